"""The registry edge: what ``type='hrnet_mm.<Name>'`` builds, and every way we imitate or differ from the stock classes.

The network (:mod:`hrnet_mm.models`) takes one typed signature per class. Configs and code written
for the HRNets of mmseg, mmpose, mmdet and mmpretrain use other forms; this module, and only this
module, translates them. It is also the only place where the library that builds
(:func:`hrnet_mm.registry.building_library`, read from mmengine's scopes) decides anything about the
network: what a stock form leaves out is filled the way that library's own class fills it.

Registered names (scope ``hrnet_mm``: ``type='hrnet_mm.HRNet'`` from any library's registry)
    ``HRNet``: :func:`build_hrnet` -> :class:`~hrnet_mm.models.backbones.HRNet`.
    ``HRModule``: :func:`build_hrmodule` -> :class:`~hrnet_mm.models.layers.HRModule`.
    ``MultiResolutionFusion``, ``HRNetV2Neck``, ``HRNetV2pNeck``, ``HRNetClsNeck``: the classes
    themselves (no stock form to translate). Bare names such as ``HRNet`` stay the libraries' own.

Imitated (a stock config switched by ``type`` alone computes the stock function)
    HRNet of mmseg / mmpose / mmdet (``extra, in_channels, ...``) and of mmpretrain
    (``arch, extra, in_channels, conv_cfg, norm_cfg, norm_eval, with_cp, zero_init_residual,
    multiscale_output, init_cfg``):

    - ``extra`` (or a dict ``arch``) is a legacy dict: its stages are the architecture, its
      ``upsample`` the fusion resize, its ``stage4.multiscale_output`` the output layout; other keys
      are ignored, as the stock classes ignore them.
    - What a legacy dict leaves out follows :data:`LIBRARY_DEFAULTS` of the building library:
      mmseg fuses bilinearly, mmpose keeps one output, mmdet freezes BN statistics
      (``norm_eval=True``); mmpretrain and plain mmengine use the network's defaults.
    - Positional arguments follow mmpretrain's order; ``(extra, in_channels)`` is read in the mmseg /
      mmpose / mmdet order, anything further must come by keyword (those libraries disagree after
      ``with_cp``, and one rule for all is easier to trust than three).
    - ``pretrained=PATH`` (mmseg, mmdet) is ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``,
      with a ``DeprecationWarning`` as there.
    - Same state-dict keys, norm layers named by type (``bn1`` / ``gn1``, reached as ``norm1``),
      a tuple of outputs, errors that are both ``ValueError`` and ``AssertionError``
      (:class:`~hrnet_mm.errors.ConfigError`).

    HRModule of mmseg / mmdet / mmpose (``num_branches, blocks, num_blocks, in_channels,
    num_channels, multiscale_output, with_cp, conv_cfg, norm_cfg``) and of mmpretrain (``block=``):
    stock residual block classes stand for 'BASIC' / 'BOTTLENECK'; ``block_init_cfg`` and
    ``init_cfg`` are accepted and unused (the module has no init of its own); the fusion resize and
    ``multiscale_output`` default as the building library's HRModule (mmseg bilinear, mmpose one
    output). A tenth positional argument must come by keyword (mmpose's is ``upsample_cfg``, the
    others' ``block_init_cfg``).

    mmdet's ``HRFPN``: :class:`~hrnet_mm.models.necks.HRNetV2pNeck` has its keys and arguments.
    mmseg's ``resize_concat`` input transform: :class:`~hrnet_mm.models.necks.HRNetV2Neck` computes it.
    timm's ``hrnet_w*`` (``features_only``) and the official MSRA code: same keys and outputs.

Different on purpose (each tested)
    - Any input size: every fusion resizes once, straight to its target's size (mmpose, mmdet and
      mmpretrain upsample by a fixed factor and fail on sides that are not multiples of 32).
    - ``HRNetV2pNeck(ceil_mode=True)`` by default: pooled levels round up and cover the whole image;
      mmdet's HRFPN rounds down (``ceil_mode=False`` gives its function).
    - Two choices of how it runs, made here, outside the network: ``channels_last=True`` (default)
      stores the weights NHWC, so every convolution runs NHWC, and hands the outputs back as
      contiguous NCHW (some heads' custom ops read raw NCHW memory: mmcv's roi_align returns wrong
      values for NHWC input); ``cuda_graph`` replays CUDA-graph recordings (:mod:`hrnet_mm.cuda_graph`).
    - ReLUs are functional: the stem and the residual blocks have no ``relu`` submodule (one module
      called several times per forward is refused by torch's PT2E int8 quantizer, docs/deploy.md).
    - Default init: Kaiming (fan-out) convs and unit norms, the official code's; mmpose starts
      from Normal(0.001), mmpretrain from mmengine's Kaiming, mmseg and mmdet from PyTorch's.
    - A ``Pretrained`` checkpoint is loaded last, through a loader that checks shapes and names
      the width a file was made for; ``zero_init_residual`` never overwrites it.
    - HRNet-C (:class:`~hrnet_mm.models.necks.HRNetClsNeck`) keeps the official / timm head keys,
      not mmpretrain's ``HRFuseScales`` ones; ``hrnet-mm convert`` maps those.
"""
import warnings
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from hrnet_mm.cuda_graph import cuda_graph_settings, graph_cuda_forward
from hrnet_mm.errors import ConfigError, is_int
from hrnet_mm.registry import MODELS, building_library

from .archs import STAGE_KEYS
from .backbones import HRNet
from .layers import BLOCKS, HRModule, MultiResolutionFusion
from .necks import HRNetClsNeck, HRNetV2Neck, HRNetV2pNeck

# What each library's own HRNet / HRModule does when given only the stock arguments.
LIBRARY_DEFAULTS: Dict[str, dict] = {
    'mmseg': dict(upsample_cfg=dict(mode='bilinear', align_corners=False)),  # its fusion resizes bilinearly
    'mmpose': dict(multiscale_output=False),  # fuses into the highest resolution only
    'mmdet': dict(norm_eval=True),  # freezes BN statistics unless told otherwise
}
# mmpretrain's positional order of HRNet; the other positional form taken is (extra, in_channels).
HRNET_ORDER = ('arch', 'extra', 'in_channels', 'conv_cfg', 'norm_cfg', 'norm_eval', 'with_cp',
               'zero_init_residual', 'multiscale_output', 'init_cfg')
# The stock HRModules' first nine positional arguments (all four libraries agree on them).
HRMODULE_STOCK_ORDER = ('num_branches', 'blocks', 'num_blocks', 'in_channels', 'num_channels',
                        'multiscale_output', 'with_cp', 'conv_cfg', 'norm_cfg')
HRMODULE_ORDER = ('in_channels', 'num_channels', 'num_blocks', 'block')
STAGES = ('stage1', 'stage2', 'stage3', 'stage4')


def library_defaults(scope: Optional[str] = None) -> dict:
    """:data:`LIBRARY_DEFAULTS` of ``scope`` (default: the building library, also under a stamped
    ``_scope_='hrnet_mm'``); {} for other scopes."""
    return LIBRARY_DEFAULTS.get(scope or building_library() or '', {})


def _named(args: Tuple[Any, ...], order: Tuple[str, ...], kwargs: Dict[str, Any], what: str) -> Dict[str, Any]:
    if len(args) > len(order):
        raise TypeError(f'{what} takes at most {len(order)} positional arguments ({", ".join(order)}), '
                        f'got {len(args)}')
    named = dict(zip(order, args))
    twice = sorted(set(named) & set(kwargs))
    if twice:
        raise TypeError(f'{what} got {twice} both positionally and by keyword')
    return {**named, **kwargs}


def hrnet_arguments(*args: Any, **kwargs: Any) -> Dict[str, Any]:
    """The :class:`~hrnet_mm.models.backbones.HRNet` keyword arguments for any stock call form.

    Example:
        >>> from hrnet_mm.models.archs import ARCH_ZOO
        >>> extra = dict(ARCH_ZOO['w18-small-v1'], upsample=dict(mode='bilinear'))
        >>> kwargs = hrnet_arguments(extra, 1)  # mmseg / mmpose / mmdet order
        >>> kwargs['in_channels'], kwargs['upsample_cfg'], kwargs['multiscale_output']
        (1, {'mode': 'bilinear'}, True)
    """
    if len(args) >= 2 and isinstance(args[0], dict) and is_int(args[1]):
        if len(args) > 2:
            raise ConfigError('after a positional extra and in_channels, pass arguments by keyword: mmseg, '
                              'mmpose and mmdet order the later ones differently')
        args = (None, *args)  # (extra, in_channels) -> mmpretrain's (arch, extra, in_channels)
    kwargs = _named(args, HRNET_ORDER, kwargs, 'HRNet')
    extra, arch = kwargs.pop('extra', None), kwargs.pop('arch', None)
    pretrained = kwargs.pop('pretrained', None)
    if pretrained is not None:
        if kwargs.get('init_cfg') is not None:
            raise ConfigError('pass either init_cfg or the deprecated pretrained, not both')
        warnings.warn('HRNet(pretrained=...) is deprecated, use '
                      "init_cfg=dict(type='Pretrained', checkpoint=...)", DeprecationWarning, stacklevel=3)
        kwargs['init_cfg'] = dict(type='Pretrained', checkpoint=pretrained)
    legacy = extra if extra is not None else (arch if isinstance(arch, dict) else None)
    if legacy is None:
        kwargs['arch'] = 'w32' if arch is None else arch
    else:
        if not isinstance(legacy, dict):
            raise ConfigError(f'extra must be a dict of stage1..stage4, got {type(legacy).__name__}')
        defaults = library_defaults()
        stage4 = legacy.get('stage4') if isinstance(legacy.get('stage4'), dict) else {}
        kwargs['arch'] = {name: _stage_fields(legacy[name]) for name in STAGES if name in legacy}
        if kwargs.get('upsample_cfg') is None:
            kwargs['upsample_cfg'] = legacy.get('upsample', defaults.get('upsample_cfg'))
        if kwargs.get('multiscale_output') is None:
            kwargs['multiscale_output'] = stage4.get('multiscale_output', defaults.get('multiscale_output', True))
        if kwargs.get('norm_eval') is None:
            kwargs['norm_eval'] = defaults.get('norm_eval', False)
    return _without_none_flags(kwargs)


def _without_none_flags(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """Drop flags given as None (stock configs write that for "the default"); the network types them bool."""
    flags = ('multiscale_output', 'norm_eval', 'with_cp', 'zero_init_residual')
    return {key: value for key, value in kwargs.items() if value is not None or key not in flags}


def _stage_fields(stage: Any) -> Any:
    """The fields of a legacy stage the stock classes read (a non-dict is left for the network to refuse)."""
    return {key: stage[key] for key in STAGE_KEYS if key in stage} if isinstance(stage, dict) else stage


def build_hrnet(*args: Any, channels_last: bool = True, cuda_graph: Union[bool, dict] = False,
                **kwargs: Any) -> HRNet:
    """``hrnet_mm.HRNet`` of the registry: an :class:`~hrnet_mm.models.backbones.HRNet` from any stock form.

    Takes the network's own arguments and every form described in this module's docstring; Python
    code written against a stock class can use it in that class's place.

    Args:
        *args, **kwargs: The network's arguments or a stock class's (:func:`hrnet_arguments`).
        channels_last (bool): Store the weights channels-last (NHWC), so that the network runs NHWC
            whatever the input's layout, and hand the outputs back contiguous (NCHW). Same values
            and shapes; oneDNN (CPU) and tensor cores (CUDA AMP) run NHWC convolutions faster
            (docs/benchmarks.md). False keeps the stock NCHW layout. Default: True.
        cuda_graph (bool | dict): On CUDA inputs, replay CUDA-graph recordings of the forward and
            backward (:func:`hrnet_mm.cuda_graph.graph_cuda_forward`; same outputs, gradients and BN
            statistics as eager). True, or a dict of ``max_graphs`` / ``min_calls`` / ``warmup``.
            CPU inputs run eagerly. Default: False.

    Example:
        >>> from hrnet_mm.models.archs import ARCH_ZOO
        >>> extra = dict(ARCH_ZOO['w18-small-v1'])
        >>> extra['stage4'] = dict(extra['stage4'], multiscale_output=False)
        >>> model = build_hrnet(extra)
        >>> model.out_indices  # mmpose's pose layout, as mmpose's HRNet reads it
        (0,)
        >>> model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
        True
        >>> model(torch.rand(1, 3, 64, 64))[0].is_contiguous()  # NCHW out
        True
    """
    graph = cuda_graph_settings(cuda_graph)  # checked before the network is built
    model = HRNet(**hrnet_arguments(*args, **kwargs))
    if channels_last:  # loads and inits write into these tensors in place, keeping the layout
        model.to(memory_format=torch.channels_last)
        model.register_forward_hook(contiguous_outputs)
    if graph is not None:
        graph_cuda_forward(model, **graph)
    return model


def contiguous_outputs(module: nn.Module, args: Any, outputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
    """Forward hook: the outputs as contiguous (NCHW) tensors, for heads that read raw NCHW memory."""
    return tuple(o.contiguous() for o in outputs)


def block_name(block: Any) -> str:
    """'BASIC' / 'BOTTLENECK' for one of those names or a stock residual block class.

    Classes are told apart by their ``expansion`` (1 or 4); mmpose's and mmpretrain's set it per
    instance, and their class names (``BasicBlock``, ``Bottleneck``) say which they are.
    """
    if isinstance(block, str) and block in BLOCKS:
        return block
    expansion = getattr(block, 'expansion', None)
    for name, cls in BLOCKS.items():
        if expansion == cls.expansion:
            return name
    for name, cls in BLOCKS.items():
        if isinstance(block, type) and cls.__name__ in block.__name__:
            return name
    raise ConfigError(f"blocks must be 'BASIC', 'BOTTLENECK' or a residual block class with expansion 1 or 4, "
                      f'got {block!r}')


def hrmodule_arguments(*args: Any, **kwargs: Any) -> Dict[str, Any]:
    """The :class:`~hrnet_mm.models.layers.HRModule` keyword arguments for its own or a stock call form."""
    if args and is_int(args[0]):  # the stock order starts with num_branches
        if len(args) > len(HRMODULE_STOCK_ORDER):
            raise ConfigError('pass the stock HRModule arguments after norm_cfg by keyword: the libraries '
                              'disagree on them (mmpose: upsample_cfg; mmseg, mmdet, mmpretrain: block_init_cfg)')
        kwargs = _named(args, HRMODULE_STOCK_ORDER, kwargs, 'HRModule')
    else:
        kwargs = _named(args, HRMODULE_ORDER, kwargs, 'HRModule')
    num_branches = kwargs.pop('num_branches', None)
    kwargs.pop('block_init_cfg', None)  # accepted, unused: HRModule has no init of its own
    kwargs.pop('init_cfg', None)
    if 'blocks' in kwargs and 'block' in kwargs:
        raise ConfigError('pass blocks (mmseg, mmpose, mmdet) or block (mmpretrain), not both')
    stock = num_branches is not None or 'blocks' in kwargs or not isinstance(kwargs.get('block', 'BASIC'), str)
    block = kwargs.pop('blocks', kwargs.pop('block', 'BASIC'))
    kwargs['block'] = block_name(block)
    if stock:  # the fusion resize and output layout of the building library's HRModule
        defaults = library_defaults()
        if kwargs.get('upsample_cfg') is None:
            kwargs['upsample_cfg'] = defaults.get('upsample_cfg')
        if kwargs.get('multiscale_output') is None:
            kwargs['multiscale_output'] = defaults.get('multiscale_output', True)
    missing = [name for name in ('in_channels', 'num_channels', 'num_blocks') if kwargs.get(name) is None]
    if missing:
        raise ConfigError(f'HRModule needs in_channels, num_channels and num_blocks (or the stock num_branches, '
                          f'blocks, num_blocks, in_channels, num_channels); missing {missing}')
    if num_branches is not None and num_branches != len(kwargs['in_channels']):
        raise ConfigError(f'num_branches ({num_branches}) must equal the number of entries of in_channels '
                          f"({len(kwargs['in_channels'])})")
    return _without_none_flags(kwargs)


def build_hrmodule(*args: Any, **kwargs: Any) -> HRModule:
    """``hrnet_mm.HRModule`` of the registry: an :class:`~hrnet_mm.models.layers.HRModule` from its own
    signature or the stock ``(num_branches, blocks, num_blocks, in_channels, num_channels, ...)``.

    Example:
        >>> from mmseg.models.backbones.resnet import BasicBlock
        >>> build_hrmodule(2, BasicBlock, (1, 1), [8, 16], [8, 16]).out_channels
        [8, 16]
    """
    return HRModule(**hrmodule_arguments(*args, **kwargs))


MODELS.register_module(name='HRNet', module=build_hrnet)
MODELS.register_module(name='HRModule', module=build_hrmodule)
for _cls in (MultiResolutionFusion, HRNetV2Neck, HRNetV2pNeck, HRNetClsNeck):
    MODELS.register_module(module=_cls)
