_base_ = './fcn_hrnetv2-w18_4xb2-40k_cityscapes-512x1024.py'
model = dict(
    backbone=dict(arch='w48', init_cfg=dict(checkpoint='open-mmlab://msra/hrnetv2_w48')),
    decode_head=dict(in_channels=[48, 96, 192, 384], channels=720))
