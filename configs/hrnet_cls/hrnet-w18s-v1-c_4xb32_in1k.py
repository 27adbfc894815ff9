# HRNet-W18-C-small-v1 on ImageNet-1k. mmpretrain ships no small HRNet; this takes its HRNet-W18 recipe
# (4 GPUs x 32 images, 100 epochs, cosine) with hrnet_mm's W18-small-v1 backbone and the HRNet-C neck.
_base_ = 'mmpretrain::hrnet/hrnet-w18_4xb32_in1k.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='hrnet_mm.HRNet', arch='w18-small-v1', multiscale_output=True),
    neck=dict(_delete_=True, type='hrnet_mm.HRNetClsNeck', in_channels=[16, 32, 64, 128]))
# Saves that a kill cannot lose (hrnet_mm/checkpoint/saving.py); the base's options stay.
default_hooks = dict(checkpoint=dict(type='hrnet_mm.SafeCheckpointHook'))
