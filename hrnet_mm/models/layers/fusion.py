"""Multi-resolution fusion and the parallel multi-resolution module of HRNet.

Module names and nesting (``branches.<b>.<unit>``, ``fuse_layers.<i>.<j>...``) equal the official
MSRA and OpenMMLab layout, so their checkpoints load with ``strict=True``.
"""
from typing import List, Optional, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from hrnet_mm.errors import ConfigError

from ..settings import resolve_settings
from .conv import conv_norm
from .residual import BLOCKS, make_res_layer


class IdentityPath(nn.Module):
    """Path from a branch to itself."""

    def forward(self, x: Tensor, size: List[int]) -> Tensor:
        return x


class UpsamplePath(nn.Sequential):
    """Low -> high resolution: 1x1 conv + norm, then one resize straight to the target's size.

    Resizing to the exact target size (instead of a fixed ``scale_factor``) is what lets any input
    size work: with odd sizes the stride-2 convs round up, so ``2**k * low`` can overshoot ``high``.
    ``mode`` / ``align_corners`` come resolved (:func:`~hrnet_mm.models.settings.resolve_settings`).
    """

    def __init__(self, in_channels: int, out_channels: int, conv_cfg: Optional[dict], norm_cfg: dict,
                 mode: str, align_corners: Optional[bool]):
        super().__init__(*conv_norm(in_channels, out_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg))
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: Tensor, size: List[int]) -> Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x)
        return F.interpolate(x, size=size, mode=self.mode, align_corners=self.align_corners)


class DownsamplePath(nn.Sequential):
    """High -> low resolution: ``k`` chained stride-2 3x3 conv + norm (ReLU between, not after)."""

    def __init__(self, in_channels: int, out_channels: int, num_steps: int, conv_cfg: Optional[dict],
                 norm_cfg: dict):
        steps = []
        for step in range(num_steps):
            last = step == num_steps - 1
            steps.append(conv_norm(in_channels, out_channels if last else in_channels, 3, stride=2,
                                   conv_cfg=conv_cfg, norm_cfg=norm_cfg, relu=not last))
        super().__init__(*steps)

    def forward(self, x: Tensor, size: List[int]) -> Tensor:  # type: ignore[override]
        for step in self:
            x = step(x)
        return x


class _NoFusion(nn.Module):
    """Fusion of a single-branch module: the branch output as is."""

    def forward(self, xs: List[Tensor]) -> List[Tensor]:
        return xs


class MultiResolutionFusion(nn.ModuleList):
    """Exchange information across resolutions: output ``i`` = ReLU(sum_j path_ij(x_j)).

    Item ``i`` is a ModuleList of paths from every input branch ``j``: identity for ``j == i``,
    :class:`UpsamplePath` for lower resolutions (``j > i``), :class:`DownsamplePath` for higher ones.

    Args:
        in_channels (Sequence[int]): Channels of each input branch, highest resolution first.
        num_outputs (int, optional): Fuse into the first ``num_outputs`` branches only (1 for the
            last module of pose HRNet). Default: all branches.
        conv_cfg (dict, optional): Conv layer config. Default: None.
        norm_cfg (dict, optional): Norm layer config. Default: ``dict(type='BN')``.
        upsample_cfg (dict, optional): ``mode`` and ``align_corners`` of the low -> high resize
            (modes and defaults: :func:`~hrnet_mm.models.settings.resolve_settings`). Default: nearest.

    Shapes:
        xs[j]: (N, in_channels[j], H_j, W_j) with H_0 >= H_1 >= ...
        returns[i]: (N, in_channels[i], H_i, W_i) for i < num_outputs.

    Example:
        >>> fusion = MultiResolutionFusion([18, 36])
        >>> outs = fusion([torch.rand(1, 18, 33, 33), torch.rand(1, 36, 17, 17)])
        >>> [tuple(o.shape) for o in outs]
        [(1, 18, 33, 33), (1, 36, 17, 17)]
    """

    def __init__(self, in_channels: Sequence[int], num_outputs: Optional[int] = None, *,
                 conv_cfg: Optional[dict] = None, norm_cfg: Optional[dict] = None,
                 upsample_cfg: Optional[dict] = None):
        settings = resolve_settings(norm_cfg=norm_cfg, upsample_cfg=upsample_cfg)
        norm_cfg = settings.norm_cfg
        num_outputs = len(in_channels) if num_outputs is None else num_outputs
        if not 1 <= num_outputs <= len(in_channels):
            raise ConfigError(f'num_outputs must be in [1, {len(in_channels)}], got {num_outputs}')
        targets = []
        for i in range(num_outputs):
            paths: List[nn.Module] = []
            for j, channels in enumerate(in_channels):
                if j > i:
                    paths.append(UpsamplePath(channels, in_channels[i], conv_cfg, norm_cfg, **settings.upsample_cfg))
                elif j < i:
                    paths.append(DownsamplePath(channels, in_channels[i], i - j, conv_cfg, norm_cfg))
                else:
                    paths.append(IdentityPath())
            targets.append(nn.ModuleList(paths))
        super().__init__(targets)

    def forward(self, xs: List[Tensor]) -> List[Tensor]:
        outs: List[Tensor] = []
        for i, paths in enumerate(self):
            size: List[int] = [xs[i].shape[-2], xs[i].shape[-1]]
            y: Optional[Tensor] = None
            owned = False  # may y be summed into in place? (never the identity input itself)
            for j, path in enumerate(paths):
                z = path(xs[j], size)
                if y is None:
                    y, owned = z, j != i
                elif owned:
                    y = y.add_(z)
                else:
                    y, owned = y + z, True
            assert y is not None
            outs.append(F.relu(y, inplace=owned))
        return outs


class HRModule(nn.Module):
    """Parallel multi-resolution module: residual units per branch, then fusion across branches.

    Args:
        in_channels (Sequence[int]): Input channels of each branch, highest resolution first.
        num_channels (Sequence[int]): Width of each branch (output = width * block expansion).
        num_blocks (Sequence[int]): Residual units per branch.
        block (str): 'BASIC' or 'BOTTLENECK'. Default: 'BASIC'.
        multiscale_output (bool): Fuse into every branch (True) or only the highest-resolution one.
            Default: True.
        with_cp (bool): Activation checkpointing in the residual units. Default: False.
        conv_cfg, norm_cfg, upsample_cfg: As in :class:`MultiResolutionFusion`.

    The stock OpenMMLab signature ``(num_branches, blocks, num_blocks, in_channels, num_channels, ...)``
    with stock block classes is what the registered ``hrnet_mm.HRModule`` also takes
    (:func:`hrnet_mm.models.dropin.build_hrmodule`).

    Shapes:
        xs[b]: (N, in_channels[b], H_b, W_b) -> returns[b]: (N, num_channels[b] * expansion, H_b, W_b),
        one output per branch (only the first when ``multiscale_output=False``).

    Example:
        >>> module = HRModule([18, 36], [18, 36], [4, 4])
        >>> [tuple(o.shape) for o in module([torch.rand(1, 18, 64, 48), torch.rand(1, 36, 32, 24)])]
        [(1, 18, 64, 48), (1, 36, 32, 24)]
    """

    def __init__(self, in_channels: Sequence[int], num_channels: Sequence[int], num_blocks: Sequence[int],
                 block: str = 'BASIC', *, multiscale_output: bool = True, with_cp: bool = False,
                 conv_cfg: Optional[dict] = None, norm_cfg: Optional[dict] = None,
                 upsample_cfg: Optional[dict] = None):
        super().__init__()
        if block not in BLOCKS:
            raise ConfigError(f'block must be one of {tuple(BLOCKS)}, got {block!r} (stock block classes: build '
                              "through the registry, type='hrnet_mm.HRModule')")
        if not len(in_channels) == len(num_channels) == len(num_blocks):
            raise ConfigError('in_channels, num_channels and num_blocks must have one entry per branch, got '
                              f'{len(in_channels)}, {len(num_channels)} and {len(num_blocks)}')
        settings = resolve_settings(norm_cfg=norm_cfg, upsample_cfg=upsample_cfg)
        norm_cfg = settings.norm_cfg
        self.branches = nn.ModuleList(
            make_res_layer(block, cin, width, n, with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
            for cin, width, n in zip(in_channels, num_channels, num_blocks))
        self.out_channels = [width * BLOCKS[block].expansion for width in num_channels]
        self.multiscale_output = bool(multiscale_output)
        self.num_branches = len(self.branches)
        self.fuse_layers: nn.Module
        if self.num_branches > 1:
            self.fuse_layers = MultiResolutionFusion(
                self.out_channels, None if multiscale_output else 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                upsample_cfg=settings.upsample_cfg)
        else:  # nothing to exchange; a module (not None) keeps forward and hooks uniform
            self.fuse_layers = _NoFusion()

    def forward(self, xs: List[Tensor]) -> List[Tensor]:
        ys: List[Tensor] = []
        for b, branch in enumerate(self.branches):
            ys.append(branch(xs[b]))
        return self.fuse_layers(ys)
