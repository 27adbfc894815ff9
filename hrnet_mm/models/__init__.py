from .backbones import HRNet  # noqa: F401
from .layers import HRModule, MultiResolutionFusion  # noqa: F401
from .necks import HRNetClsNeck, HRNetV2Neck, HRNetV2pNeck  # noqa: F401
