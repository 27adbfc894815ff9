from .hrnet_v2 import HRNetV2Neck, HRNetV2pNeck, concat_to_highest

__all__ = ['HRNetV2Neck', 'HRNetV2pNeck', 'concat_to_highest']
