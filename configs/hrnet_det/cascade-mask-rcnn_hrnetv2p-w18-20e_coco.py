_base_ = 'mmdet::hrnet/cascade-mask-rcnn_hrnetv2p-w18_20e_coco.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
# Same detector as the stock config: backbone -> hrnet_mm.HRNet, HRFPN -> hrnet_mm.HRNetV2pNeck (V2p).
# norm_eval=True (frozen BN statistics) suits the ImageNet init; set it False to train from scratch.
model = dict(
    backbone=dict(_delete_=True, type='hrnet_mm.HRNet', arch='w18', norm_eval=True,
                  init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w18')),
    neck=dict(_delete_=True, type='hrnet_mm.HRNetV2pNeck', in_channels=[18, 36, 72, 144], out_channels=256))
# Saves that a kill cannot lose (hrnet_mm/checkpoint/saving.py); the base's options stay.
default_hooks = dict(checkpoint=dict(type='hrnet_mm.SafeCheckpointHook'))
