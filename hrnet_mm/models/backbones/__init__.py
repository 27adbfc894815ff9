from .hrnet import HRNet
from .hrnet_archs import ARCH_ZOO, parse_arch

__all__ = ['HRNet', 'ARCH_ZOO', 'parse_arch']
