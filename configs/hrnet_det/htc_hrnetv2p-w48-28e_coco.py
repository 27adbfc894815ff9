_base_ = './htc_hrnetv2p-w48-20e_coco.py'
# The 20e detector on the stock 28e schedule (as mmdet's htc_hrnetv2p-w40_28e_coco): steps at 24 and 27.
max_epochs = 28
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[24, 27], gamma=0.1),
]
