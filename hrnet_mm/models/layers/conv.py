"""The conv -> norm (-> ReLU) unit that transitions, fusion paths, shortcuts and the HRNet-C head are made of."""
from typing import List, Optional

from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import nn


def conv_norm(in_channels: int, out_channels: int, kernel_size: int, *, norm_cfg: dict,
              conv_cfg: Optional[dict] = None, stride: int = 1, bias: bool = False,
              relu: bool = False) -> nn.Sequential:
    """A ``kernel_size`` conv (padding ``kernel_size // 2``), a norm layer and, with ``relu``, a ReLU.

    The children are numbered (``0`` conv, ``1`` norm), the key layout of the official MSRA code and
    the OpenMMLab HRNets; mmcv's ``ConvModule`` computes the same but names them ``conv`` / ``bn``,
    so those checkpoints would not load into it.

    Args:
        in_channels, out_channels: Channels in and out.
        kernel_size: Square kernel size. stride: Conv stride. Default: 1.
        norm_cfg: A resolved norm config (:func:`~hrnet_mm.models.settings.resolve_settings`).
        conv_cfg: Conv layer config. Default: None (``nn.Conv2d``).
        bias: Conv bias (the HRNet-C head has one). Default: False.
        relu: Append an in-place ReLU. Default: False.

    Shapes:
        (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)) for odd kernels.

    Example:
        >>> unit = conv_norm(8, 16, 3, norm_cfg=dict(type='BN'), stride=2, relu=True)
        >>> [name for name, _ in unit.named_children()], tuple(unit(torch.rand(1, 8, 9, 9)).shape)
        (['0', '1', '2'], (1, 16, 5, 5))
    """
    layers: List[nn.Module] = [
        build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size, stride=stride,
                         padding=kernel_size // 2, bias=bias),
        build_norm_layer(norm_cfg, out_channels)[1]]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)
