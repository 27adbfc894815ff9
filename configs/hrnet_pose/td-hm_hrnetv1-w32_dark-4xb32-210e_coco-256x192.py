_base_ = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_dark-8xb64-210e_coco-256x192.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
# HRNetV1: the last module fuses into the highest resolution only (the official pose layout, whose
# checkpoints load strictly); the stock ImageNet init_cfg is kept.
model = dict(backbone=dict(type='hrnet_mm.HRNet', arch='w32', extra=None, multiscale_output=False))
# The paper's schedule: Adam lr 1e-3, 210 epochs, x0.1 at epochs 170 and 200, batch 128 (4 x 32).
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
auto_scale_lr = dict(base_batch_size=128)
train_dataloader = dict(batch_size=32)
# Saves that a kill cannot lose (hrnet_mm/checkpoint/saving.py); the base's options stay.
default_hooks = dict(checkpoint=dict(type='hrnet_mm.SafeCheckpointHook'))
