_base_ = 'mmdet::hrnet/htc_hrnetv2p-w32_20e_coco.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
# Same detector as the stock config: backbone -> hrnet_mm.HRNet, HRFPN -> hrnet_mm.HRNetV2pNeck (V2p).
# norm_eval=True (frozen BN statistics) suits the ImageNet init; set it False to train from scratch.
model = dict(
    backbone=dict(_delete_=True, type='hrnet_mm.HRNet', arch='w32', norm_eval=True,
                  init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w32')),
    neck=dict(_delete_=True, type='hrnet_mm.HRNetV2pNeck', in_channels=[32, 64, 128, 256], out_channels=256))
# Saves that a kill cannot lose (hrnet_mm/checkpoint/saving.py); the base's options stay.
default_hooks = dict(checkpoint=dict(type='hrnet_mm.SafeCheckpointHook'))
