"""Residual units of HRNet: the basic block of the branches and the bottleneck of stage 1.

Attribute names (conv1, bn1, ..., downsample.0/1) follow the official MSRA / OpenMMLab layout so
that their checkpoints load unchanged. As in mmcv / mmseg / mmpose, a norm layer is named by its
type (``bn1`` for BN and SyncBN, ``gn1`` for GN, ...) and reached as ``norm1`` whatever its type.
"""
from typing import Dict, Optional, Type

import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import Tensor, nn

from .conv import conv_norm


class NamedNorms(nn.Module):
    """``norm<k>`` properties for norm layers registered under their type's name (``bn<k>``, ``gn<k>``)."""

    norm1_name: str
    norm2_name: str
    norm3_name: str

    def _add_norm(self, k: int, norm_cfg: dict, channels: int) -> None:
        name, layer = build_norm_layer(norm_cfg, channels, postfix=k)
        setattr(self, f'norm{k}_name', name)
        self.add_module(name, layer)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)


class ResidualUnit(NamedNorms):
    """Shared forward: ``relu(residual(x) + shortcut(x))``, optionally recomputed in backward.

    ReLUs are functional, not one module called several times: torch's PT2E int8 quantizer
    (X86InductorQuantizer) refuses a module whose calls give several outputs (docs/deploy.md).
    """

    expansion: int
    last_norm: str
    with_cp: bool

    def _residual(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if not (self.with_cp and x.requires_grad):
            return F.relu(self._residual(x), inplace=True)
        return F.relu(cp.checkpoint(self._residual, x, use_reentrant=False), inplace=True)


class BasicBlock(ResidualUnit):
    """Two 3x3 conv-norm layers with an identity shortcut (expansion 1).

    Args:
        in_channels (int): Input channels C_in.
        planes (int): Output channels C_out (``planes * expansion``).
        norm_cfg (dict): A resolved norm config (:func:`~hrnet_mm.models.settings.resolve_settings`).
        stride (int): Stride of the first conv. Default: 1.
        downsample (nn.Module, optional): Shortcut projection when shapes differ. Default: None.
        with_cp (bool): Recompute the unit in backward to save memory. Default: False.
        conv_cfg (dict, optional): Conv layer config. Default: None (nn.Conv2d).

    Shapes:
        x: (N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride)).
    """

    expansion = 1
    last_norm = 'norm2'

    def __init__(self, in_channels: int, planes: int, *, norm_cfg: dict, stride: int = 1,
                 downsample: Optional[nn.Module] = None, with_cp: bool = False, conv_cfg: Optional[dict] = None):
        super().__init__()
        self.conv1 = build_conv_layer(conv_cfg, in_channels, planes, 3, stride=stride, padding=1, bias=False)
        self._add_norm(1, norm_cfg, planes)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, padding=1, bias=False)
        self._add_norm(2, norm_cfg, planes)
        self.downsample = downsample if downsample is not None else nn.Identity()
        self.with_cp = with_cp

    def _residual(self, x: Tensor) -> Tensor:
        out = F.relu(self.norm1(self.conv1(x)), inplace=True)
        out = self.norm2(self.conv2(out))
        return out.add_(self.downsample(x))  # in place: BN backward does not need its output


class Bottleneck(ResidualUnit):
    """1x1 -> 3x3 -> 1x1 conv-norm with an identity shortcut (expansion 4).

    Args:
        in_channels (int): Input channels C_in.
        planes (int): Width of the 3x3 conv; output channels are ``planes * 4``.
        norm_cfg (dict): As in :class:`BasicBlock`.
        stride (int): Stride of the 3x3 conv. Default: 1.
        downsample, with_cp, conv_cfg: As in :class:`BasicBlock`.

    Shapes:
        x: (N, C_in, H, W) -> (N, 4 * planes, ceil(H / stride), ceil(W / stride)).
    """

    expansion = 4
    last_norm = 'norm3'

    def __init__(self, in_channels: int, planes: int, *, norm_cfg: dict, stride: int = 1,
                 downsample: Optional[nn.Module] = None, with_cp: bool = False, conv_cfg: Optional[dict] = None):
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = build_conv_layer(conv_cfg, in_channels, planes, 1, bias=False)
        self._add_norm(1, norm_cfg, planes)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, stride=stride, padding=1, bias=False)
        self._add_norm(2, norm_cfg, planes)
        self.conv3 = build_conv_layer(conv_cfg, planes, out_channels, 1, bias=False)
        self._add_norm(3, norm_cfg, out_channels)
        self.downsample = downsample if downsample is not None else nn.Identity()
        self.with_cp = with_cp

    def _residual(self, x: Tensor) -> Tensor:
        out = F.relu(self.norm1(self.conv1(x)), inplace=True)
        out = F.relu(self.norm2(self.conv2(out)), inplace=True)
        out = self.norm3(self.conv3(out))
        return out.add_(self.downsample(x))  # in place: BN backward does not need its output


BLOCKS: Dict[str, Type[ResidualUnit]] = {'BASIC': BasicBlock, 'BOTTLENECK': Bottleneck}


def make_res_layer(block: str, in_channels: int, planes: int, num_blocks: int, *, norm_cfg: dict,
                   stride: int = 1, with_cp: bool = False, conv_cfg: Optional[dict] = None) -> nn.Sequential:
    """Stack ``num_blocks`` units of ``block`` ('BASIC' / 'BOTTLENECK'); the first one projects the shortcut
    (1x1 conv + norm) if the shape changes.

    Example:
        >>> layer = make_res_layer('BOTTLENECK', 64, 16, 2, norm_cfg=dict(type='BN'))
        >>> tuple(layer(torch.rand(1, 64, 8, 8)).shape), type(layer[0].downsample).__name__
        ((1, 64, 8, 8), 'Identity')
    """
    block_cls = BLOCKS[block]
    out_channels = planes * block_cls.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = conv_norm(in_channels, out_channels, 1, stride=stride, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
    units = [block_cls(in_channels, planes, stride=stride, downsample=downsample, with_cp=with_cp, conv_cfg=conv_cfg,
                       norm_cfg=norm_cfg)]
    units += [block_cls(out_channels, planes, with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
              for _ in range(1, num_blocks)]
    return nn.Sequential(*units)
