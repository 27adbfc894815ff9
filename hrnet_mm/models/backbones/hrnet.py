"""HRNet backbone (Wang et al., TPAMI 2020) for OpenMMLab 2.x."""
from typing import Any, List, Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from mmcv.cnn import build_conv_layer
from mmengine.model import BaseModule
from mmengine.model.weight_init import initialize
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from hrnet_mm.errors import ConfigError, is_int

from ..archs import parse_arch
from ..layers import BLOCKS, HRModule, make_res_layer
from ..layers.conv import conv_norm
from ..layers.residual import NamedNorms, ResidualUnit
from ..settings import resolve_settings


class Transition(nn.ModuleList):
    """Between stages: adapt the widths of existing branches and grow new lower-resolution ones.

    Item ``b`` maps the previous stage's branch ``b`` (identity when widths agree) or, for a new
    branch, the previous lowest-resolution output through chained stride-2 3x3 conv-norm-ReLUs.
    """

    def __init__(self, prev_channels: Sequence[int], channels: Sequence[int], conv_cfg: Optional[dict],
                 norm_cfg: dict):
        items: List[nn.Module] = []
        for b, out_channels in enumerate(channels):
            if b < len(prev_channels):
                same = prev_channels[b] == out_channels
                items.append(nn.Identity() if same else conv_norm(
                    prev_channels[b], out_channels, 3, conv_cfg=conv_cfg, norm_cfg=norm_cfg, relu=True))
            else:
                steps, cin = [], prev_channels[-1]
                for step in range(b + 1 - len(prev_channels)):
                    cout = out_channels if step == b - len(prev_channels) else cin
                    steps.append(conv_norm(cin, cout, 3, stride=2, conv_cfg=conv_cfg, norm_cfg=norm_cfg, relu=True))
                    cin = cout
                items.append(nn.Sequential(*steps))
        super().__init__(items)
        self.num_prev = len(prev_channels)

    def forward(self, xs: List[Tensor]) -> List[Tensor]:
        outs: List[Tensor] = []
        for b, layer in enumerate(self):
            outs.append(layer(xs[b] if b < self.num_prev else xs[-1]))
        return outs


class HRNet(NamedNorms, BaseModule):
    """HRNet: parallel high-to-low resolution branches with repeated multi-resolution fusion.

    A stem of two stride-2 3x3 conv-norm-ReLUs (1/4 resolution), stage 1 of bottleneck units, then
    stages 2-4 that each add a branch at half the resolution (strides 4, 8, 16, 32) and repeat
    :class:`~hrnet_mm.models.layers.HRModule`. State-dict keys equal the official MSRA and OpenMMLab
    (mmseg / mmpose / mmdet / mmpretrain) HRNets, so their checkpoints load with ``strict=True``.

    This is the one signature of the network. The registered ``hrnet_mm.HRNet`` that configs build
    also takes the stock classes' forms (legacy ``extra``, positional orders, ``pretrained``, the
    building library's defaults) and turns them into these arguments:
    :func:`hrnet_mm.models.dropin.build_hrnet`.

    Args:
        arch (str | dict): Preset (``'w18-small-v1'``, ``'w18-small-v2'``, ``'w18'``, ``'w30'``,
            ``'w32'``, ``'w40'``, ``'w44'``, ``'w48'``, ``'w64'``; aliases such as ``'W32'``,
            ``'w18-small'``) or a dict of exactly ``stage1``..``stage4``
            (:func:`~hrnet_mm.models.archs.parse_arch`). Default: ``'w32'``.
        in_channels (int): Image channels. Default: 3.
        conv_cfg (dict, optional): Conv layer config. Default: None.
        norm_cfg (dict, optional): Norm config (BN, SyncBN, GN, ...). Default: ``dict(type='BN')``.
        norm_eval (bool): Keep norm layers in eval mode while training (frozen statistics).
            Default: False.
        frozen_stages (int): Freeze parameters and norm statistics up to this stage: -1 none, 0 the
            stem, k the stem and stages 1..k with the transition after each. Default: -1.
        with_cp (bool): Activation checkpointing in every residual unit. Default: False.
        zero_init_residual (bool): Zero the last norm of every residual unit at init (a
            ``Pretrained`` checkpoint is loaded after it and wins). Default: False.
        multiscale_output (bool): If False, the last module fuses into the highest resolution only
            (the official pose layout) and only output 0 exists. Default: True.
        out_indices (Sequence[int], optional): Branches to return. Default: all four, or ``(0,)``
            when ``multiscale_output=False``.
        upsample_cfg (dict, optional): ``mode`` / ``align_corners`` of the low -> high fusion resize
            (:func:`~hrnet_mm.models.settings.resolve_settings`). Default: ``dict(mode='nearest')``
            (official pose/classification code, mmpose, mmdet); mmseg's HRNet fuses with
            ``dict(mode='bilinear', align_corners=False)``.
        init_cfg (dict | list[dict], optional): Initialization config. Every ``Pretrained`` entry
            (optional ``prefix``) is loaded last, through a loader that checks shapes; other entries
            go through mmengine's initializers. Default: None (Kaiming convs, unit norms).

    Norm layers are named by type as in the stock classes (``bn1`` / ``gn1`` ..., reached as
    ``norm1``, ``norm2``). Invalid arguments raise :class:`~hrnet_mm.errors.ConfigError`, both a
    ``ValueError`` and the ``AssertionError`` the stock classes raise.

    The network converts no memory format: it runs in the layout its caller gives its weights and
    input (``model.to(memory_format=torch.channels_last)`` makes every convolution NHWC) and hands
    its outputs out in it. What configs build (:func:`hrnet_mm.models.dropin.build_hrnet`) chooses
    channels-last weights and NCHW outputs, and can replay CUDA graphs (:mod:`hrnet_mm.cuda_graph`).

    Shapes:
        x: (N, in_channels, H, W), any H, W >= 32.
        returns: tuple, output ``b`` is (N, C_b, ceil(H / s_b), ceil(W / s_b)) with s_b = 4 * 2**b
        and C_b = ``out_channels[b]`` (C, 2C, 4C, 8C for the presets).

    Example:
        >>> from hrnet_mm.models import HRNet
        >>> model = HRNet(arch='w18').eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 513, 513))]
        [(1, 18, 129, 129), (1, 36, 65, 65), (1, 72, 33, 33), (1, 144, 17, 17)]
    """

    def __init__(self,
                 arch: Union[str, dict] = 'w32',
                 *,
                 in_channels: int = 3,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 norm_eval: bool = False,
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 zero_init_residual: bool = False,
                 multiscale_output: bool = True,
                 out_indices: Optional[Sequence[int]] = None,
                 upsample_cfg: Optional[dict] = None,
                 init_cfg: Union[dict, List[dict], None] = None):
        self._check_init_cfg(init_cfg)
        super().__init__(init_cfg=init_cfg)
        settings = resolve_settings(upsample_cfg=upsample_cfg, norm_cfg=norm_cfg)
        self.arch, self.upsample_cfg, self.norm_cfg = parse_arch(arch), settings.upsample_cfg, settings.norm_cfg
        if not is_int(frozen_stages) or not -1 <= frozen_stages <= 4:
            raise ConfigError(f'frozen_stages must be an int in -1..4, got {frozen_stages!r}')
        if not is_int(in_channels) or in_channels < 1:
            raise ConfigError(f'in_channels must be a positive int (image channels), got {in_channels!r}')
        multiscale_output = bool(multiscale_output)
        self.in_channels = in_channels
        self.conv_cfg = conv_cfg
        self.norm_eval = bool(norm_eval)
        self.frozen_stages = frozen_stages
        self.with_cp = with_cp
        self.zero_init_residual = zero_init_residual
        self.multiscale_output = multiscale_output

        # Stem: two stride-2 3x3 conv-norm-ReLU down to 1/4.
        self.conv1 = build_conv_layer(conv_cfg, in_channels, 64, 3, stride=2, padding=1, bias=False)
        self._add_norm(1, self.norm_cfg, 64)
        self.conv2 = build_conv_layer(conv_cfg, 64, 64, 3, stride=2, padding=1, bias=False)
        self._add_norm(2, self.norm_cfg, 64)

        s1 = self.arch['stage1']
        self.layer1 = make_res_layer(s1['block'], 64, s1['num_channels'][0], s1['num_blocks'][0],
                                     with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=self.norm_cfg)
        channels = [s1['num_channels'][0] * BLOCKS[s1['block']].expansion]
        for k in (2, 3, 4):
            stage = self.arch[f'stage{k}']
            widths = [c * BLOCKS[stage['block']].expansion for c in stage['num_channels']]
            setattr(self, f'transition{k - 1}', Transition(channels, widths, conv_cfg, self.norm_cfg))
            modules = []
            for m in range(stage['num_modules']):
                last = k == 4 and m == stage['num_modules'] - 1
                modules.append(HRModule(widths, stage['num_channels'], stage['num_blocks'], stage['block'],
                                        multiscale_output=multiscale_output or not last, with_cp=with_cp,
                                        conv_cfg=conv_cfg, norm_cfg=self.norm_cfg, upsample_cfg=self.upsample_cfg))
            setattr(self, f'stage{k}', nn.Sequential(*modules))
            channels = widths

        num_outputs = len(channels) if multiscale_output else 1
        if out_indices is None:
            out_indices = tuple(range(num_outputs))
        hint = ' (multiscale_output=False leaves only branch 0)' if not multiscale_output else ''
        if not isinstance(out_indices, (list, tuple)):
            raise ConfigError(f'out_indices must be a list or tuple of branch indices from '
                              f'{tuple(range(num_outputs))}{hint}, got {out_indices!r}')
        out_indices = tuple(out_indices)
        if not out_indices or any(not is_int(i) or not 0 <= i < num_outputs
                                  for i in out_indices):
            raise ConfigError(f'out_indices must be a non-empty subset of {tuple(range(num_outputs))}{hint}, '
                              f'got {out_indices}')
        self.out_indices = out_indices
        self.out_channels = [channels[i] for i in out_indices]
        self.out_strides = [4 * 2**i for i in out_indices]
        # timm-style: output j is item ``index`` of the list that the last module of stage 4 returns.
        last_module = f"stage4.{self.arch['stage4']['num_modules'] - 1}"
        self.feature_info = [dict(num_chs=channels[i], reduction=4 * 2**i, module=last_module, index=i)
                             for i in out_indices]
        self._freeze_stages()

    @staticmethod
    def _check_init_cfg(init_cfg) -> None:
        for cfg in _init_cfgs(init_cfg):
            if not isinstance(cfg, dict) or 'type' not in cfg:
                raise ConfigError(f"init_cfg entries must be dicts with a 'type', got {init_cfg!r}")
            if cfg['type'] == 'Pretrained' and not cfg.get('checkpoint'):
                raise ConfigError("init_cfg=dict(type='Pretrained') needs checkpoint=<path or URL>, got "
                                  f'{init_cfg!r}')

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """(N, C_in, H, W) -> a tuple of the ``out_indices`` branches, in the layout the network ran in."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'HRNet expects input of shape (N, {self.in_channels}, H, W), got {list(x.shape)}')
        x = F.relu(self.norm1(self.conv1(x)), inplace=True)  # functional: see ResidualUnit
        x = F.relu(self.norm2(self.conv2(x)), inplace=True)
        xs = self.transition1([self.layer1(x)])
        for module in self.stage2:
            xs = module(xs)
        xs = self.transition2(xs)
        for module in self.stage3:
            xs = module(xs)
        xs = self.transition3(xs)
        for module in self.stage4:
            xs = module(xs)
        return tuple(xs[i] for i in self.out_indices)

    # ----------------------------------------------------------------- training-mode helpers
    def _stage_modules(self, k: int) -> List[nn.Module]:
        if k == 0:
            return [self.conv1, self.norm1, self.conv2, self.norm2]
        stage = self.layer1 if k == 1 else getattr(self, f'stage{k}')
        return [stage] + ([getattr(self, f'transition{k}')] if k < 4 else [])

    def _freeze_stages(self) -> None:
        for k in range(self.frozen_stages + 1):
            for module in self._stage_modules(k):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> 'HRNet':
        """Set training mode, keeping frozen stages and (with ``norm_eval``) all BN in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    # ----------------------------------------------------------------- initialization
    def init_weights(self) -> None:
        """Kaiming init (or the non-``Pretrained`` entries of ``init_cfg``), the optional zero-init of
        residuals, then every ``Pretrained`` checkpoint: loaded weights are never overwritten."""
        cfgs = _init_cfgs(self.init_cfg)
        pretrained = [cfg for cfg in cfgs if cfg['type'] == 'Pretrained']
        others = [cfg for cfg in cfgs if cfg['type'] != 'Pretrained']
        if others:
            initialize(self, others)
        else:
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)
                elif isinstance(module, (_BatchNorm, nn.GroupNorm)):
                    nn.init.ones_(module.weight)
                    nn.init.zeros_(module.bias)
        if self.zero_init_residual:
            for module in self.modules():
                if isinstance(module, ResidualUnit):
                    nn.init.zeros_(getattr(module, module.last_norm).weight)
        if pretrained:
            from hrnet_mm.checkpoint import load_backbone_checkpoint
            for cfg in pretrained:
                load_backbone_checkpoint(self, cfg['checkpoint'], prefix=cfg.get('prefix'),
                                         map_location=cfg.get('map_location', 'cpu'))
        self._is_init = True


def _init_cfgs(init_cfg: Any) -> List[dict]:
    """``init_cfg`` (one dict, a list of them, or None) as a list; read when used, as mmengine does."""
    if init_cfg is None:
        return []
    return list(init_cfg) if isinstance(init_cfg, (list, tuple)) else [init_cfg]
