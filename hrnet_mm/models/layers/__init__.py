from .conv import conv_norm
from .fusion import DownsamplePath, HRModule, IdentityPath, MultiResolutionFusion, UpsamplePath
from .residual import BLOCKS, BasicBlock, Bottleneck, make_res_layer

__all__ = ['BLOCKS', 'BasicBlock', 'Bottleneck', 'make_res_layer', 'conv_norm', 'MultiResolutionFusion', 'HRModule',
           'IdentityPath', 'UpsamplePath', 'DownsamplePath']
