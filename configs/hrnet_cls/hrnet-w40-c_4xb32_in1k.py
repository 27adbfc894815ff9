# HRNet-W40-C on ImageNet-1k: mmpretrain's stock HRNet-W40 recipe (4 GPUs x 32 images, 100 epochs, cosine)
# with hrnet_mm's HRNet and the HRNet-C neck (incremental widening + strided fusion + 2048-d pooling).
_base_ = 'mmpretrain::hrnet/hrnet-w40_4xb32_in1k.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='hrnet_mm.HRNet', arch='w40', multiscale_output=True),
    neck=dict(_delete_=True, type='hrnet_mm.HRNetClsNeck', in_channels=[40, 80, 160, 320]))
# Saves that a kill cannot lose (hrnet_mm/checkpoint/saving.py); the base's options stay.
default_hooks = dict(checkpoint=dict(type='hrnet_mm.SafeCheckpointHook'))
