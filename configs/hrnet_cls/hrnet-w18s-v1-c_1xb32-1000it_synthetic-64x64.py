# `make demo-cls`: HRNet-W18-C-small-v1 trained from scratch on the synthetic shapes of
# tools/make_cls_data.py (6 classes, 64x64, colour random: only the shape tells the class), on CPU
# with mmpretrain's stock train/test tools.
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)

data_root = 'data/cls_demo'
classes = ('cross', 'disc', 'ring', 'square', 'star', 'triangle')

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        num_classes=len(classes), mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(type='hrnet_mm.HRNet', arch='w18-small-v1', multiscale_output=True),
    neck=dict(type='hrnet_mm.HRNetClsNeck', in_channels=[16, 32, 64, 128]),
    head=dict(
        type='LinearClsHead', num_classes=len(classes), in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1,)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),  # classes are flip-invariant
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]


def _split(name):
    return dict(type='CustomDataset', data_root=data_root, data_prefix=name, with_label=True,
                metainfo=dict(classes=classes))


train_dataloader = dict(
    batch_size=32, num_workers=1, persistent_workers=True, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**_split('train'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=1, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**_split('val'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1,))
test_evaluator = val_evaluator

max_iters = 1000
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
                     clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, begin=0, end=50, by_epoch=False),
    dict(type='CosineAnnealingLR', eta_min=1e-5, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='hrnet_mm.SafeCheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1),
    visualization=dict(type='VisualizationHook', enable=False, rescale_factor=4.0))  # 256x256 pictures
log_processor = dict(by_epoch=False)
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
