from ..archs import ARCH_ZOO, parse_arch
from .hrnet import HRNet

__all__ = ['HRNet', 'ARCH_ZOO', 'parse_arch']
