# The paper's FCOS HRNetV2p-W48 row: multi-scale training (shorter side 640 or 800), 24 epochs.
# mmdet ships this schedule for W18 / W32 / W40; the W48 detector takes the W32 config's pipeline and schedule.
_base_ = 'mmdet::hrnet/fcos_hrnetv2p-w32-gn-head_ms-640-800-4xb4-2x_coco.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
# Same detector as the stock config: backbone -> hrnet_mm.HRNet, HRFPN -> hrnet_mm.HRNetV2pNeck (V2p).
# norm_eval=True (frozen BN statistics) suits the ImageNet init; set it False to train from scratch.
model = dict(
    backbone=dict(_delete_=True, type='hrnet_mm.HRNet', arch='w48', norm_eval=True,
                  init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w48')),
    neck=dict(_delete_=True, type='hrnet_mm.HRNetV2pNeck', in_channels=[48, 96, 192, 384], out_channels=256,
              stride=2, num_outs=5))
# Saves that a kill cannot lose (hrnet_mm/checkpoint/saving.py); the base's options stay.
default_hooks = dict(checkpoint=dict(type='hrnet_mm.SafeCheckpointHook'))
