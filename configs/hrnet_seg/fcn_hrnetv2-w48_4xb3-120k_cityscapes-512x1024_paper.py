# The paper's Cityscapes schedule for HRNetV2-W48 (81.1 mIoU on val): SGD lr 0.01, momentum 0.9,
# weight decay 5e-4, poly power 0.9, 120k iterations, batch 12 (4 GPUs x 3), crop 512x1024.
_base_ = './fcn_hrnetv2-w48_4xb2-40k_cityscapes-512x1024.py'
max_iters = 120000
train_dataloader = dict(batch_size=3)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005))
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=12000)
default_hooks = dict(checkpoint=dict(type='hrnet_mm.SafeCheckpointHook', by_epoch=False, interval=12000))
