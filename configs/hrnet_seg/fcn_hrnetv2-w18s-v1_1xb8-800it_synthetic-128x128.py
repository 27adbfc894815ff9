# `make demo`: HRNetV2-W18-small-v1 + FCN head trained from scratch on the synthetic shapes of
# tools/make_seg_data.py, on CPU (BN, not SyncBN), with mmseg's stock train/test tools.
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)

data_root = 'data/seg_demo'
crop_size = (128, 128)
metainfo = dict(
    classes=('background', 'disc', 'square', 'triangle', 'cross', 'ring'),
    palette=[[0, 0, 0], [220, 60, 60], [60, 180, 75], [65, 105, 225], [240, 200, 40], [170, 80, 200]])
norm_cfg = dict(type='BN', requires_grad=True)
widths = [16, 32, 64, 128]

model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=crop_size),
    backbone=dict(
        type='hrnet_mm.HRNet', arch='w18-small-v1', norm_cfg=norm_cfg,
        upsample_cfg=dict(mode='bilinear', align_corners=False)),
    decode_head=dict(
        type='FCNHead', in_channels=widths, in_index=(0, 1, 2, 3), channels=sum(widths),
        input_transform='resize_concat', kernel_size=1, num_convs=1, concat_input=False,
        dropout_ratio=-1, num_classes=len(metainfo['classes']), norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=crop_size, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.9),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]


def _split(name):
    return dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo, img_suffix='.png',
                seg_map_suffix='.png', reduce_zero_label=False,
                data_prefix=dict(img_path=f'images/{name}', seg_map_path=f'annotations/{name}'))


train_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**_split('training'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**_split('validation'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

max_iters = 800
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.01),
                     clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, begin=0, end=50, by_epoch=False),
    dict(type='PolyLR', power=0.9, eta_min=1e-5, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='hrnet_mm.SafeCheckpointHook', by_epoch=False, interval=250, max_keep_ckpts=2),
    visualization=dict(type='SegVisualizationHook', interval=10))
log_processor = dict(by_epoch=False)
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
