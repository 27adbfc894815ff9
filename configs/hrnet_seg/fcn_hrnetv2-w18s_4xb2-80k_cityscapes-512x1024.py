_base_ = './fcn_hrnetv2-w18_4xb2-80k_cityscapes-512x1024.py'
model = dict(backbone=dict(arch='w18-small-v2', init_cfg=dict(checkpoint='open-mmlab://msra/hrnetv2_w18_small')))
