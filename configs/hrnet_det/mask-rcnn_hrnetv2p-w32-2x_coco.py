_base_ = './mask-rcnn_hrnetv2p-w32-1x_coco.py'
# The 1x detector on the stock 2x schedule (mmdet's mask-rcnn_hrnetv2p-w32-2x_coco): 24 epochs, steps at 16 and 22.
max_epochs = 24
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[16, 22], gamma=0.1),
]
