"""hrnet_mm: HRNet (TPAMI 2020) backbone, fusion blocks and necks for OpenMMLab 2.x."""
from .checkpoint import register_safe_globals
from .version import __version__  # noqa: F401

register_safe_globals()

from . import models  # noqa: E402,F401  (registers the modules)
from .models import HRModule, HRNet, HRNetV2Neck, HRNetV2pNeck, MultiResolutionFusion  # noqa: E402,F401
