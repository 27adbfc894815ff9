"""hrnet_mm: HRNet (TPAMI 2020) backbone, fusion blocks and necks for OpenMMLab 2.x.

``import hrnet_mm`` (a config's ``custom_imports``) costs about what importing mmengine's registries
costs: it adds our child registries (scope ``hrnet_mm``) and the ``hrnet_mm::`` config names. What
needs torch and mmcv (registering the modules, the checked checkpoint loaders, the stack checks) is
:mod:`hrnet_mm.plugin`, imported at once when torch is already loaded, else on first use: the first
``hrnet_mm.*`` registry lookup, the first ``hrnet_mm.HRNet``-style attribute, or
:func:`activate`.
"""
import os
import sys
import warnings
from typing import Any

# mmengine 0.10 imports pkg_resources, whose deprecation notice would be the first line of every
# hrnet-mm command's output; it is about mmengine's packaging, not about anything the user did.
# HRNET_MM_KEEP_WARNINGS=1 keeps it.
if os.environ.get('HRNET_MM_KEEP_WARNINGS', '0').strip().lower() not in ('1', 'true', 'yes', 'on'):
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

# config_lookup lets mmengine resolve hrnet_mm:: configs; registry adds our child registries.
from . import config_lookup, registry  # noqa: E402,F401
from .version import __version__  # noqa: E402,F401

MODEL_CLASSES = ('HRModule', 'HRNet', 'HRNetClsNeck', 'HRNetV2Neck', 'HRNetV2pNeck', 'MultiResolutionFusion')


def activate() -> None:
    """Register the modules and install the checkpoint loaders now (:mod:`hrnet_mm.plugin`); idempotent.

    Raises:
        ModuleNotFoundError: torch or mmcv is missing (``python -m hrnet_mm.rebuild mmcv`` builds mmcv).
    """
    from . import plugin  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in MODEL_CLASSES:
        activate()
        from . import models
        return getattr(models, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


if 'torch' in sys.modules:  # torch is paid for already: no reason to wait
    activate()
