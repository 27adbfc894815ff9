_base_ = 'mmseg::ocrnet/ocrnet_hr18_4xb2-80k_cityscapes-512x1024.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
# Same network as the stock config; only the backbone type changes. ImageNet init: see README.
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True, type='hrnet_mm.HRNet', arch='w18', norm_cfg=dict(type='SyncBN', requires_grad=True),
        upsample_cfg=dict(mode='bilinear', align_corners=False),
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w18')))
# Saves that a kill cannot lose (hrnet_mm/checkpoint/saving.py); the base's options stay.
default_hooks = dict(checkpoint=dict(type='hrnet_mm.SafeCheckpointHook'))
