# `make demo-face`: HRNetV2-W18-small-v1 (all four branches concatenated) + mmpose's heatmap head with the
# authors' 1x1 conv-BN-ReLU, trained from scratch on the synthetic 68-point faces of
# hrnet_mm/synthetic/face_data.py (mmpose's 300W format), on CPU, with mmpose's stock train/test tools.
# Flip augmentation and flip test are kept (the faces' halves mirror each other with 300W's flip pairs).
_base_ = ['mmpose::_base_/default_runtime.py']
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)

data_root = 'data/face_demo/'
dataset_type = 'Face300WDataset'
data_mode = 'topdown'
max_epochs = 30
codec = dict(type='MSRAHeatmap', input_size=(96, 96), heatmap_size=(24, 24), sigma=1.5)

model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(type='hrnet_mm.HRNet', arch='w18-small-v1', multiscale_output=True,
                  upsample_cfg=dict(mode='bilinear', align_corners=False)),
    neck=dict(type='hrnet_mm.HRNetV2Neck', in_channels=[16, 32, 64, 128]),
    head=dict(type='HeatmapHead', in_channels=240, out_channels=68, deconv_out_channels=None,
              conv_out_channels=(240, ), conv_kernel_sizes=(1, ),
              loss=dict(type='KeypointMSELoss', use_target_weight=True), decoder=codec),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform', shift_factor=0.05, rotate_factor=30, scale_factor=(0.75, 1.25)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=32, num_workers=1, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, data_mode=data_mode,
                 ann_file='annotations/face_landmarks_300w_train.json', data_prefix=dict(img='images/train/'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_mode=data_mode, test_mode=True,
                 ann_file='annotations/face_landmarks_300w_val.json', data_prefix=dict(img='images/val/'),
                 pipeline=val_pipeline))
test_dataloader = val_dataloader
# 300W's NME: mean landmark error over the distance of the outer eye corners (points 36 and 45).
val_evaluator = dict(type='NME', norm_mode='keypoint_distance')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=30, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', begin=0, end=max_epochs, T_max=max_epochs, eta_min=1e-5, by_epoch=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=8),
    checkpoint=dict(type='hrnet_mm.SafeCheckpointHook', interval=5, max_keep_ckpts=1, save_best='NME', rule='less'))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
