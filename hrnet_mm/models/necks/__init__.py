from .hrnet_cls import HRNetClsNeck
from .hrnet_v2 import HRNetV2Neck, HRNetV2pNeck, concat_to_highest

__all__ = ['HRNetClsNeck', 'HRNetV2Neck', 'HRNetV2pNeck', 'concat_to_highest']
