_base_ = 'mmpose::body_2d_keypoint/topdown_heatmap/mpii/td-hm_hrnet-w32_8xb64-210e_mpii-256x256.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
# HRNetV1: the last module fuses into the highest resolution only (the official pose layout, whose
# checkpoints load strictly); the stock ImageNet init_cfg is kept.
model = dict(backbone=dict(type='hrnet_mm.HRNet', arch='w32', extra=None, multiscale_output=False))
# Saves that a kill cannot lose (hrnet_mm/checkpoint/saving.py); the base's options stay.
default_hooks = dict(checkpoint=dict(type='hrnet_mm.SafeCheckpointHook'))
