"""The settings of the network, normalized in one place: architecture, low -> high resize, norm layers.

The backbone, :class:`~hrnet_mm.models.layers.HRModule`, :class:`~hrnet_mm.models.layers.
MultiResolutionFusion` and the necks all call :func:`resolve_settings` on what they were given and
read only what it returns: every default, alias and validity check lives here, once. Resolving a
resolved value returns it unchanged, so a setting handed from the backbone to its modules means the
same at every level. No setting depends on the registry scope (what the stock classes of each
library would choose is filled in at the registry edge, :mod:`hrnet_mm.models.dropin`); a norm type
is only looked up where mmcv's ``build_norm_layer`` will look for it, to name an unknown one early.
"""
import inspect
from typing import List, NamedTuple, Optional, Sequence

from torch import nn

from hrnet_mm.errors import ConfigError, is_int

BN = dict(type='BN')
# The fusion's resize in the official pose/classification code, mmpose and mmdet.
NEAREST = dict(mode='nearest', align_corners=None)
# The necks' resize (mmseg's resize_concat, mmdet's HRFPN) and mmseg's fusion.
BILINEAR = dict(mode='bilinear', align_corners=False)
# torch's interpolate takes align_corners for these modes only and raises for any other.
CORNER_MODES = ('bilinear', 'bicubic')
UPSAMPLE_MODES = ('nearest', 'nearest-exact', 'area') + CORNER_MODES


class Settings(NamedTuple):
    """Normalized settings of one module."""

    upsample_cfg: dict
    norm_cfg: dict


class Resolved(dict):
    """A setting :func:`resolve_settings` produced: resolving it again returns it as it is, unchecked.

    The backbone resolves its settings once and hands them to every fusion and residual module it
    builds, so a norm type is looked up once per network, not once per module.
    """


def resolve_settings(*, upsample_cfg: Optional[dict] = None, norm_cfg: Optional[dict] = None,
                     upsample_default: dict = NEAREST) -> Settings:
    """Validate and complete the settings of one module.

    Args:
        upsample_cfg: ``mode`` (one of :data:`UPSAMPLE_MODES`) and ``align_corners``; what it leaves
            out comes from ``upsample_default``. ``align_corners`` is a bool for bilinear / bicubic
            (default False) and None for the other modes (False is accepted there, True refused).
        norm_cfg: mmcv norm config (``dict(type='BN')``, ``dict(type='GN', num_groups=32)``, ...).
            Default: BN.
        upsample_default: The module's own default resize (:data:`NEAREST` or :data:`BILINEAR`).

    Returns:
        :class:`Settings` with ``upsample_cfg`` always ``{'mode': ..., 'align_corners': ...}``.

    Raises:
        ConfigError: Naming the setting, the value and what is allowed.

    Example:
        >>> resolve_settings(upsample_cfg=dict(mode='nearest-exact'), upsample_default=BILINEAR).upsample_cfg
        {'mode': 'nearest-exact', 'align_corners': None}
        >>> resolve_settings().norm_cfg
        {'type': 'BN'}
    """
    return Settings(_upsample(upsample_cfg, upsample_default), _norm(norm_cfg))


def branch_channels(in_channels: Sequence[int]) -> List[int]:
    """The channels of a module's input branches as a list (a non-empty list or tuple of ints).

    Raises:
        ConfigError: Anything else.
    """
    if not isinstance(in_channels, (list, tuple)) or not in_channels or not all(is_int(c) and c > 0
                                                                              for c in in_channels):
        raise ConfigError(f'in_channels must be a non-empty list of branch widths, got {in_channels!r}')
    return list(in_channels)


def _upsample(cfg: Optional[dict], default: dict) -> dict:
    if isinstance(cfg, Resolved):
        return cfg
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"upsample_cfg must be a dict such as dict(mode='bilinear', align_corners=False), "
                          f'got {cfg!r}')
    unknown = set(cfg) - {'mode', 'align_corners'}
    if unknown:
        raise ConfigError(f'upsample_cfg takes mode and align_corners only, got extra keys {sorted(unknown)}')
    mode = cfg.get('mode', default['mode'])
    if mode not in UPSAMPLE_MODES:
        raise ConfigError(f"upsample_cfg['mode'] must be one of {UPSAMPLE_MODES}, got {mode!r}")
    align = cfg.get('align_corners', default.get('align_corners'))
    if align is not None and not isinstance(align, bool):
        raise ConfigError(f"upsample_cfg['align_corners'] must be a bool or None, got {align!r}")
    if mode in CORNER_MODES:
        return Resolved(mode=mode, align_corners=bool(align))
    if align:
        raise ConfigError(f"upsample_cfg['align_corners'] applies to {CORNER_MODES} only, got align_corners=True "
                          f'with mode {mode!r}')
    return Resolved(mode=mode, align_corners=None)


def _norm(cfg: Optional[dict]) -> dict:
    if isinstance(cfg, Resolved):
        return cfg
    if cfg is None:
        return Resolved(BN)
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ConfigError(f"norm_cfg must be a dict with a 'type' such as dict(type='BN'), got {cfg!r}")
    norm_type = cfg['type']
    layer = norm_type if inspect.isclass(norm_type) else _norm_class(norm_type)
    if layer is None:
        raise ConfigError(f"norm_cfg type {norm_type!r} is no registered norm layer: use one of mmcv's ('BN', "
                          "'SyncBN', 'GN', 'LN', 'IN', ...), one registered by the building library, or a class")
    if issubclass(layer, nn.GroupNorm) and 'num_groups' not in cfg:
        raise ConfigError(f'norm_cfg {cfg!r} needs num_groups, e.g. dict(type={norm_type!r}, num_groups=32)')
    return Resolved(cfg)


def _norm_class(name: object) -> Optional[type]:
    """The class a norm type names, looked up as mmcv's ``build_norm_layer`` will (mmengine picks the registry)."""
    if not isinstance(name, str):
        return None
    from mmengine.registry import MODELS
    with MODELS.switch_scope_and_registry(None) as registry:
        found = registry.get(name)
    return found if inspect.isclass(found) else None
