# HRNet-W18-C on ImageNet-1k: mmpretrain's stock HRNet-W18 recipe (4 GPUs x 32 images, 100 epochs, cosine)
# with hrnet_mm's HRNet and the HRNet-C neck (incremental widening + strided fusion + 2048-d pooling).
_base_ = 'mmpretrain::hrnet/hrnet-w18_4xb32_in1k.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='hrnet_mm.HRNet', arch='w18', multiscale_output=True),
    neck=dict(_delete_=True, type='hrnet_mm.HRNetClsNeck', in_channels=[18, 36, 72, 144]))
# Saves that a kill cannot lose (hrnet_mm/checkpoint/saving.py); the base's options stay.
default_hooks = dict(checkpoint=dict(type='hrnet_mm.SafeCheckpointHook'))
