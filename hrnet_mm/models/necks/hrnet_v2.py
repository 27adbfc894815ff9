"""HRNet representation necks: V2 (concatenate all resolutions) and V2p (V2 pooled into a pyramid).

V1, the highest-resolution branch alone, needs no neck: ``HRNet(out_indices=(0,))``, e.g. for a pose
heatmap head ``backbone=dict(type='hrnet_mm.HRNet', arch='w32', multiscale_output=False)``.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from hrnet_mm.errors import ConfigError

from ..settings import BILINEAR, branch_channels, resolve_settings


def concat_to_highest(xs: Sequence[Tensor], upsample_cfg: dict = BILINEAR) -> Tensor:
    """Resize every map to the first one's size and concatenate along channels.

    Args:
        xs: Branch outputs, highest resolution first.
        upsample_cfg: A resolved resize (:func:`~hrnet_mm.models.settings.resolve_settings`).
            Default: bilinear, ``align_corners=False``.

    Shapes:
        xs[b]: (N, C_b, H_b, W_b) -> (N, sum(C_b), H_0, W_0).
    """
    size = [xs[0].shape[-2], xs[0].shape[-1]]
    return torch.cat([xs[0]] + [F.interpolate(x, size=size, **upsample_cfg) for x in xs[1:]], 1)


class HRNetV2Neck(BaseModule):
    """HRNetV2 representation: all branches upsampled to 1/4 and concatenated (segmentation).

    Args:
        in_channels (Sequence[int]): Channels of each branch, e.g. ``[48, 96, 192, 384]``.
        out_channels (int, optional): If given, a 1x1 conv-norm-ReLU mixes the concatenation into
            this many channels. Default: None (output ``sum(in_channels)``, 15C for C-wide HRNets).
        upsample_cfg (dict, optional): Resize of the low-resolution maps
            (:func:`~hrnet_mm.models.settings.resolve_settings`). Default: bilinear, align_corners False.
        conv_cfg, norm_cfg, act_cfg: Of the optional 1x1 conv. Defaults: None, BN, ReLU.
        init_cfg (dict, optional): Initialization config. Default: None.

    Shapes:
        inputs[b]: (N, in_channels[b], H_b, W_b) -> returns a 1-tuple of (N, C_out, H_0, W_0).

    Example:
        >>> neck = HRNetV2Neck([18, 36, 72, 144])
        >>> feats = [torch.rand(1, c, 64 // 2**b, 64 // 2**b) for b, c in enumerate([18, 36, 72, 144])]
        >>> tuple(neck(feats)[0].shape)
        (1, 270, 64, 64)
    """

    def __init__(self, in_channels: Sequence[int], out_channels: Optional[int] = None, *,
                 upsample_cfg: Optional[dict] = None, conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None, act_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        settings = resolve_settings(upsample_cfg=upsample_cfg, norm_cfg=norm_cfg, upsample_default=BILINEAR)
        self.in_channels = branch_channels(in_channels)
        self.upsample_cfg = settings.upsample_cfg
        concat = sum(self.in_channels)
        self.out_channels = concat if out_channels is None else out_channels
        self.conv = nn.Identity() if out_channels is None else ConvModule(
            concat, out_channels, 1, conv_cfg=conv_cfg, norm_cfg=settings.norm_cfg,
            act_cfg=act_cfg or dict(type='ReLU'))

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'{type(self).__name__} expects {len(self.in_channels)} inputs, got {len(inputs)}')
        return (self.conv(concat_to_highest(inputs, self.upsample_cfg)),)


class HRNetV2pNeck(BaseModule):
    """HRNetV2p: the V2 concatenation, a 1x1 conv, then average pooling into a feature pyramid.

    Level ``l`` is the reduced V2 map pooled by ``2**l`` and smoothed by a 3x3 conv, giving strides
    4, 8, ..., 4 * 2**(num_outs-1) (the paper's detection neck; keys equal mmdet's ``HRFPN``).

    Args:
        in_channels (Sequence[int]): Channels of each branch.
        out_channels (int): Channels of every pyramid level (256 in the paper).
        num_outs (int): Pyramid levels. Default: 5 (strides 4..64).
        pooling_type (str): 'AVG' or 'MAX'. Default: 'AVG'.
        conv_cfg (dict, optional): Conv config. Default: None.
        norm_cfg (dict, optional): Norm of the convs; None means conv with bias. Default: None.
        with_cp (bool): Activation checkpointing of the 1x1 reduction. Default: False.
        stride (int): Stride of the 3x3 level convs. Default: 1.
        upsample_cfg (dict, optional): Resize before concatenation. Default: bilinear, align_corners False.
        ceil_mode (bool): Round pooled sizes up, so every level covers the whole image for any input
            size (as the backbone's strided convs do). mmdet's HRFPN rounds down (False).
            Default: True.
        init_cfg (dict, optional): Default: Caffe2Xavier init of the convs (as mmdet's HRFPN).

    Shapes:
        inputs[b]: (N, in_channels[b], H_b, W_b) -> tuple of ``num_outs`` maps
        (N, out_channels, ceil(H_0 / 2**l), ceil(W_0 / 2**l)) (floor with ``ceil_mode=False``).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, num_outs: int = 5, *,
                 pooling_type: str = 'AVG', conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None, with_cp: bool = False, stride: int = 1,
                 upsample_cfg: Optional[dict] = None, ceil_mode: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg or dict(type='Caffe2Xavier', layer='Conv2d'))
        if pooling_type not in ('AVG', 'MAX'):
            raise ConfigError(f"pooling_type must be 'AVG' or 'MAX', got {pooling_type!r}")
        if num_outs < 1:
            raise ConfigError(f'num_outs must be >= 1, got {num_outs}')
        settings = resolve_settings(upsample_cfg=upsample_cfg, norm_cfg=norm_cfg, upsample_default=BILINEAR)
        # None means plain convs with a bias, as mmdet's HRFPN builds them.
        norm_cfg = None if norm_cfg is None else settings.norm_cfg
        self.in_channels = branch_channels(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(self.in_channels)
        self.num_outs = num_outs
        self.with_cp = with_cp
        self.ceil_mode = ceil_mode
        self.upsample_cfg = settings.upsample_cfg
        self.pooling = F.avg_pool2d if pooling_type == 'AVG' else F.max_pool2d
        self.reduction_conv = ConvModule(sum(self.in_channels), out_channels, 1, conv_cfg=conv_cfg,
                                         norm_cfg=norm_cfg, act_cfg=None)
        self.fpn_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, stride=stride, conv_cfg=conv_cfg,
                       norm_cfg=norm_cfg, act_cfg=None) for _ in range(num_outs))

    def forward(self, inputs: Sequence[Tensor]) -> tuple:
        if len(inputs) != self.num_ins:
            raise ValueError(f'{type(self).__name__} expects {self.num_ins} inputs, got {len(inputs)}')
        x = concat_to_highest(inputs, self.upsample_cfg)
        if self.with_cp and x.requires_grad:
            x = cp.checkpoint(self.reduction_conv, x, use_reentrant=False)
        else:
            x = self.reduction_conv(x)
        levels = [x] + [self.pooling(x, kernel_size=2**lvl, stride=2**lvl, ceil_mode=self.ceil_mode)
                        for lvl in range(1, self.num_outs)]
        return tuple(conv(level) for conv, level in zip(self.fpn_convs, levels))

