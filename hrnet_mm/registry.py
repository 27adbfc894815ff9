"""OpenMMLab registries of hrnet_mm.

Child registries of mmengine's root registries with scope ``hrnet_mm``: a config anywhere in the
OpenMMLab world (mmseg, mmpose, mmdet, plain mmengine) builds our modules with
``type='hrnet_mm.HRNet'``. The scope prefix is what keeps us apart from the stock ``HRNet``s.
"""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='hrnet_mm', locations=['hrnet_mm.models'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='hrnet_mm', locations=['hrnet_mm.checkpoint.saving'])
