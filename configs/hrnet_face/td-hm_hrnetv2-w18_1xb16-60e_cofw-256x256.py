_base_ = 'mmpose::face_2d_keypoint/topdown_heatmap/cofw/td-hm_hrnetv2-w18_8xb64-60e_cofw-256x256.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
# The authors' recipe: 64x64 heatmaps with sigma 1.5, rotation up to 30 degrees,
# scale 0.75-1.25, flip; Adam lr 1e-4, batch 16 on one GPU, 60 epochs, lr x0.1 at epochs 30
# and 50, no warm-up. mmpose's flip test stays (the authors test without it).
codec = dict(type='MSRAHeatmap', input_size=(256, 256), heatmap_size=(64, 64), sigma=1.5)
# HRNetV2-W18: the four branches (fused bilinearly, as in the authors' face network) resized to 1/4
# and concatenated (270 channels) by our neck, which has no weights; mmpose's head keeps the 1x1 conv
# 270 -> 270 + BN + ReLU and the 1x1 conv to the 29 heatmaps, so mmpose's face checkpoints load
# strictly. BN momentum 0.01 in the backbone as in the authors' code (mmpose's head keeps torch's 0.1).
model = dict(
    backbone=dict(type='hrnet_mm.HRNet', arch='w18', extra=None, multiscale_output=True,
                  upsample_cfg=dict(mode='bilinear', align_corners=False), norm_cfg=dict(type='BN', momentum=0.01)),
    neck=dict(_delete_=True, type='hrnet_mm.HRNetV2Neck', in_channels=[18, 36, 72, 144]),
    head=dict(decoder=codec))
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform', shift_prob=0, rotate_factor=30, scale_factor=(0.75, 1.25)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
param_scheduler = [dict(type='MultiStepLR', begin=0, end=60, milestones=[30, 50], gamma=0.1, by_epoch=True)]
train_cfg = dict(max_epochs=60)
auto_scale_lr = dict(base_batch_size=16)
# Saves that a kill cannot lose (hrnet_mm/checkpoint/saving.py); the base's options (best NME) stay.
default_hooks = dict(checkpoint=dict(type='hrnet_mm.SafeCheckpointHook'))
