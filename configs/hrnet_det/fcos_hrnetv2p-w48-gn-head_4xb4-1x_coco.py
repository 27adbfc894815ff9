_base_ = './fcos_hrnetv2p-w32-gn-head_4xb4-1x_coco.py'
model = dict(
    backbone=dict(arch='w48', init_cfg=dict(checkpoint='open-mmlab://msra/hrnetv2_w48')),
    neck=dict(in_channels=[48, 96, 192, 384]))
