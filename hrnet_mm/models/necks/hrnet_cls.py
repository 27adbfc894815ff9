"""HRNet-C: the paper's classification representation, as an mmpretrain neck.

The four branches are widened by one bottleneck unit each, merged from high to low resolution by
strided convolutions, lifted to 2048 channels and pooled. A linear classifier (mmpretrain's
``LinearClsHead``) follows.
"""
from typing import List, Optional, Sequence, Tuple, Union

from mmengine.model import BaseModule
from torch import Tensor, nn

from hrnet_mm.errors import ConfigError

from ..layers import Bottleneck, conv_norm, make_res_layer
from ..settings import branch_channels, resolve_settings

DEFAULT_INIT = [dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
                dict(type='Constant', layer=['_BatchNorm', 'GroupNorm'], val=1, bias=0)]


class HRNetClsNeck(BaseModule):
    """HRNet-C head: incremental widening, strided fusion from high to low resolution, 2048-d pooling.

    Branch ``b`` passes one bottleneck unit of width ``incre_channels[b]`` (output
    ``4 * incre_channels[b]`` channels: 128, 256, 512, 1024 by default). Starting at the highest
    resolution, the running map is halved by a stride-2 3x3 conv-norm-ReLU to the next branch's
    width and added to it; the lowest-resolution sum goes through a 1x1 conv-norm-ReLU to
    ``out_channels`` and global average pooling.

    Submodule names equal the official HRNet-Image-Classification model (and timm's ``hrnet_w*``):
    ``incre_modules``, ``downsamp_modules``, ``final_layer``, with biases in the convs of the last
    two as there. :mod:`hrnet_mm.convert` maps those checkpoints and mmpretrain's ``HRFuseScales``
    ones onto this layout.

    Args:
        in_channels (Sequence[int]): Channels of the backbone's branches, high to low resolution,
            e.g. ``[18, 36, 72, 144]``.
        out_channels (int): Channels of the pooled feature. Default: 2048.
        incre_channels (Sequence[int]): Bottleneck width per branch (4x this many channels come
            out). Default: ``(32, 64, 128, 256)``.
        with_pool (bool): Global average pooling at the end. False returns the
            ``out_channels``-channel map at the lowest resolution. Default: True.
        conv_cfg (dict, optional): Conv layer config. Default: None (nn.Conv2d).
        norm_cfg (dict, optional): Norm layer config. Default: ``dict(type='BN')``.
        with_cp (bool): Activation checkpointing in the bottleneck units. Default: False.
        init_cfg (dict | list[dict], optional): Default: Kaiming (fan-out) convs, unit norms, as the
            official code.

    Shapes:
        inputs[b]: (N, in_channels[b], H_b, W_b), each ``H_b = ceil(H_{b-1} / 2)`` (HRNet's branches).
        returns: 1-tuple of (N, out_channels), or (N, out_channels, H_last, W_last) without pooling.

    Example:
        >>> neck = HRNetClsNeck([18, 36, 72, 144]).eval()
        >>> feats = [torch.rand(2, c, 16 // 2**b, 16 // 2**b) for b, c in enumerate([18, 36, 72, 144])]
        >>> [tuple(f.shape) for f in neck(feats)]
        [(2, 2048)]
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int = 2048,
                 *,
                 incre_channels: Sequence[int] = (32, 64, 128, 256),
                 with_pool: bool = True,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 with_cp: bool = False,
                 init_cfg: Union[dict, List[dict], None] = None):
        super().__init__(init_cfg=DEFAULT_INIT if init_cfg is None else init_cfg)
        self.in_channels = branch_channels(in_channels)
        if len(incre_channels) != len(in_channels):
            raise ConfigError(f'incre_channels needs one width per branch ({len(in_channels)}), got '
                              f'{tuple(incre_channels)}')
        norm_cfg = resolve_settings(norm_cfg=norm_cfg).norm_cfg
        self.out_channels = out_channels
        self.with_pool = with_pool
        widths = [c * Bottleneck.expansion for c in incre_channels]
        self.incre_modules = nn.ModuleList(
            make_res_layer('BOTTLENECK', cin, planes, 1, with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
            for cin, planes in zip(self.in_channels, incre_channels))
        # Convs with a bias, as in the official head.
        self.downsamp_modules = nn.ModuleList(
            conv_norm(widths[b], widths[b + 1], 3, stride=2, bias=True, relu=True, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
            for b in range(len(widths) - 1))
        self.final_layer = conv_norm(widths[-1], out_channels, 1, bias=True, relu=True, conv_cfg=conv_cfg,
                                     norm_cfg=norm_cfg)
        self.pool = nn.AdaptiveAvgPool2d(1) if with_pool else nn.Identity()

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor]:
        """Fuse the branches (a list or tuple, high to low resolution) into one feature."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'{type(self).__name__} expects {len(self.in_channels)} branches, got {len(inputs)}')
        y = self.incre_modules[0](inputs[0])
        for b, down in enumerate(self.downsamp_modules):
            y = self.incre_modules[b + 1](inputs[b + 1]) + down(y)
        y = self.pool(self.final_layer(y))
        return (y.flatten(1) if self.with_pool else y,)
