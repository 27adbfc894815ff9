_base_ = './cascade-mask-rcnn_hrnetv2p-w32-20e_coco.py'
model = dict(
    backbone=dict(arch='w48', init_cfg=dict(checkpoint='open-mmlab://msra/hrnetv2_w48')),
    neck=dict(in_channels=[48, 96, 192, 384]))
