# HRNetV2-W40 with the paper's Cityscapes schedule (80.2 mIoU on val in the paper).
_base_ = './fcn_hrnetv2-w48_4xb3-120k_cityscapes-512x1024_paper.py'
model = dict(
    backbone=dict(arch='w40', init_cfg=dict(checkpoint='open-mmlab://msra/hrnetv2_w40')),
    decode_head=dict(in_channels=[40, 80, 160, 320], channels=600))
