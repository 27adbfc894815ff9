"""The network (one typed signature per class) and, in :mod:`.dropin`, the registry entries that also take
the stock classes' forms."""
from . import dropin  # noqa: F401  (registers the modules)
from .backbones import HRNet
from .layers import HRModule, MultiResolutionFusion
from .necks import HRNetClsNeck, HRNetV2Neck, HRNetV2pNeck

__all__ = ['HRNet', 'HRModule', 'MultiResolutionFusion', 'HRNetClsNeck', 'HRNetV2Neck', 'HRNetV2pNeck']
