from .fusion import DownsamplePath, HRModule, IdentityPath, MultiResolutionFusion, UpsamplePath
from .residual import BasicBlock, Bottleneck, make_res_layer

__all__ = ['BasicBlock', 'Bottleneck', 'make_res_layer', 'MultiResolutionFusion', 'HRModule',
           'IdentityPath', 'UpsamplePath', 'DownsamplePath']
