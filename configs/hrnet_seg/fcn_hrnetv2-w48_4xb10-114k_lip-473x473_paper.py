# HRNetV2-W48 on LIP with the paper's settings (55.90 mIoU on val): crop 473x473, batch 40
# (4 GPUs x 10), SGD lr 0.007, momentum 0.9, weight decay 5e-4, poly 0.9, 150 epochs of the 30,462
# training images (~114k iterations). Layout: data/LIP/{train,val}_images/*.jpg and
# data/LIP/{train,val}_segmentations/*.png (the official TrainVal archives, unpacked).
_base_ = './fcn_hrnetv2-w48_4xb4-160k_ade20k-512x512.py'
crop_size = (473, 473)
max_iters = 114000
data_root = 'data/LIP'
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=20),
    test_cfg=dict(mode='whole'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=crop_size, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5, swap_seg_labels=[(14, 15), (16, 17), (18, 19)]),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=10,
    dataset=dict(_delete_=True, type='LIPDataset', data_root=data_root, pipeline=train_pipeline,
                 data_prefix=dict(img_path='train_images', seg_map_path='train_segmentations')))
val_dataloader = dict(
    dataset=dict(_delete_=True, type='LIPDataset', data_root=data_root, pipeline=test_pipeline,
                 data_prefix=dict(img_path='val_images', seg_map_path='val_segmentations')))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.007, momentum=0.9, weight_decay=0.0005))
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=11400)
default_hooks = dict(checkpoint=dict(type='hrnet_mm.SafeCheckpointHook', by_epoch=False, interval=11400))
