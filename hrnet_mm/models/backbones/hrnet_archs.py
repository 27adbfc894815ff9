"""Every HRNet preset in one place, and the parser that normalizes ``arch`` / legacy ``extra``.

A normalized arch is ``{'stage1': {...}, ..., 'stage4': {...}}``; each stage holds
``num_modules, num_branches, block, num_blocks, num_channels`` exactly as the official configs and
OpenMMLab's ``extra=`` do, so a stock config switches to us by changing ``type`` alone.
"""
import copy
from typing import Dict, Optional, Tuple, Union

from hrnet_mm.errors import ConfigError, is_int
from hrnet_mm.models.legacy_defaults import scope_defaults

STAGE_KEYS = ('num_modules', 'num_branches', 'block', 'num_blocks', 'num_channels')
BLOCK_TYPES = ('BASIC', 'BOTTLENECK')


def _stage(num_modules, block, num_blocks, num_channels):
    return dict(num_modules=num_modules, num_branches=len(num_channels), block=block,
                num_blocks=tuple(num_blocks), num_channels=tuple(num_channels))


def _standard(width: int) -> Dict[str, dict]:
    """The paper's HRNet-W{width}: modules 1/1/4/3, 4 units per branch, widths C, 2C, 4C, 8C."""
    return dict(
        stage1=_stage(1, 'BOTTLENECK', (4,), (64,)),
        stage2=_stage(1, 'BASIC', (4, 4), (width, 2 * width)),
        stage3=_stage(4, 'BASIC', (4, 4, 4), (width, 2 * width, 4 * width)),
        stage4=_stage(3, 'BASIC', (4, 4, 4, 4), (width, 2 * width, 4 * width, 8 * width)))


ARCH_ZOO: Dict[str, Dict[str, dict]] = {
    'w18-small-v1': dict(
        stage1=_stage(1, 'BOTTLENECK', (1,), (32,)),
        stage2=_stage(1, 'BASIC', (2, 2), (16, 32)),
        stage3=_stage(1, 'BASIC', (2, 2, 2), (16, 32, 64)),
        stage4=_stage(1, 'BASIC', (2, 2, 2, 2), (16, 32, 64, 128))),
    'w18-small-v2': dict(
        stage1=_stage(1, 'BOTTLENECK', (2,), (64,)),
        stage2=_stage(1, 'BASIC', (2, 2), (18, 36)),
        stage3=_stage(3, 'BASIC', (2, 2, 2), (18, 36, 72)),
        stage4=_stage(2, 'BASIC', (2, 2, 2, 2), (18, 36, 72, 144))),
    **{f'w{w}': _standard(w) for w in (18, 30, 32, 40, 44, 48, 64)},
}
# Common spellings of the same presets (after lower-casing and '_' -> '-').
ALIASES = {'w18-small': 'w18-small-v1', 'small-v1': 'w18-small-v1', 'small-v2': 'w18-small-v2',
           'w18s': 'w18-small-v1', 'w18s-v1': 'w18-small-v1', 'w18s-v2': 'w18-small-v2'}


def preset_name(name: str) -> str:
    """The :data:`ARCH_ZOO` key of a preset name or alias, case-insensitive (``'W32'`` -> ``'w32'``).

    Raises:
        ConfigError: Not a preset.
    """
    key = name.lower().replace('_', '-') if isinstance(name, str) else name
    key = ALIASES.get(key, key)
    if key not in ARCH_ZOO:
        raise ConfigError(f'arch must be one of {sorted(ARCH_ZOO)} (aliases {sorted(ALIASES)}) or a dict of '
                          f'stage1..stage4, got {name!r}')
    return key


def _check_stage(name: str, stage: dict, expected_branches: int) -> dict:
    if not isinstance(stage, dict):
        raise ConfigError(f'arch[{name!r}] must be a dict with keys {STAGE_KEYS}, got {type(stage).__name__}')
    missing = [k for k in STAGE_KEYS if k not in stage]
    if missing:
        raise ConfigError(f'arch[{name!r}] is missing {missing}; each stage needs {STAGE_KEYS}')
    stage = dict(stage)
    if stage['block'] not in BLOCK_TYPES:
        raise ConfigError(f"arch[{name!r}]['block'] must be one of {BLOCK_TYPES}, got {stage['block']!r}")
    if stage['num_branches'] != expected_branches:
        raise ConfigError(f"arch[{name!r}]['num_branches'] must be {expected_branches} (stage k has k "
                         f"branches), got {stage['num_branches']}")
    for key in ('num_blocks', 'num_channels'):
        if not isinstance(stage[key], (list, tuple)):
            raise ConfigError(f'arch[{name!r}][{key!r}] must be a list with one int per branch '
                              f'({expected_branches}), got {stage[key]!r}')
        values = tuple(stage[key])
        if len(values) != expected_branches:
            raise ConfigError(f'arch[{name!r}][{key!r}] needs one entry per branch ({expected_branches}), '
                             f'got {values}')
        if any(not is_int(v) or v < 1 for v in values):
            raise ConfigError(f'arch[{name!r}][{key!r}] must hold positive ints, got {values}')
        stage[key] = values
    if not is_int(stage['num_modules']) or stage['num_modules'] < 1:
        raise ConfigError(f"arch[{name!r}]['num_modules'] must be a positive int, got {stage['num_modules']!r}")
    return stage


def parse_arch(arch: Union[str, dict, None] = None, extra: Optional[dict] = None) -> Dict[str, dict]:
    """Normalize a preset name, a custom stage dict or a legacy OpenMMLab ``extra`` dict.

    Args:
        arch: A key of :data:`ARCH_ZOO` (e.g. ``'w32'``) or a dict with ``stage1``..``stage4``.
        extra: Legacy OpenMMLab form (``dict(stage1=..., ..., stage4=...)``); wins over ``arch``.
            Extra keys such as ``upsample`` are ignored here (the backbone reads them).

    Returns:
        dict: ``{'stage1': ..., 'stage4': ...}`` with validated, tuple-valued fields.

    Raises:
        ConfigError: Naming the bad field and the allowed values.
    """
    spec = extra if extra is not None else ('w32' if arch is None else arch)
    if isinstance(spec, str):
        spec = ARCH_ZOO[preset_name(spec)]
    if not isinstance(spec, dict):
        raise ConfigError(f'arch must be a preset name or a dict of stage1..stage4, got {type(spec).__name__}')
    missing = [f'stage{k}' for k in range(1, 5) if f'stage{k}' not in spec]
    if missing:
        raise ConfigError(f'arch dict is missing {missing}; presets: {sorted(ARCH_ZOO)}')
    return {f'stage{k}': _check_stage(f'stage{k}', copy.deepcopy(spec[f'stage{k}']), k) for k in range(1, 5)}


UPSAMPLE_MODES = ('nearest', 'bilinear', 'bicubic', 'nearest-exact')

def check_upsample_cfg(cfg: Optional[dict]) -> dict:
    """``upsample_cfg`` with defaults filled (nearest), validated.

    Raises:
        ConfigError: Not a dict, an unknown mode, or keys other than ``mode`` / ``align_corners``.
    """
    if cfg is not None and not isinstance(cfg, dict):
        raise ConfigError(f"upsample_cfg must be a dict such as dict(mode='bilinear', align_corners=False), "
                          f'got {cfg!r}')
    cfg = {'mode': 'nearest', 'align_corners': None, **(cfg or {})}
    if cfg['mode'] not in UPSAMPLE_MODES:
        raise ConfigError(f"upsample_cfg['mode'] must be one of {UPSAMPLE_MODES}, got {cfg['mode']!r}")
    unknown = set(cfg) - {'mode', 'align_corners'}
    if unknown:
        raise ConfigError(f'upsample_cfg takes mode and align_corners only, got extra keys {sorted(unknown)}')
    return cfg


def resolve_hrnet_settings(arch: Union[str, dict, None], extra: Optional[dict], upsample_cfg: Optional[dict],
                           multiscale_output: Optional[bool], norm_eval: Optional[bool] = None,
                           scope: Optional[str] = None) -> Tuple[dict, dict, bool, bool]:
    """The one place that turns HRNet's architecture arguments into settings.

    A dict (``extra``, or ``arch`` as the stock classes' first positional argument) is read the way
    the stock OpenMMLab HRNets read ``extra``: its ``upsample`` entry is the fusion resize and
    ``stage4.multiscale_output`` the output layout. Where a legacy dict leaves those out, the
    library whose scope is current decides as its own HRNet would
    (:data:`~hrnet_mm.models.legacy_defaults.LEGACY_DEFAULTS`).
    Explicit ``upsample_cfg`` / ``multiscale_output`` / ``norm_eval`` win over everything.

    Args:
        arch: Preset name or stage dict. extra: Legacy stage dict (wins over ``arch``).
        upsample_cfg: Explicit fusion resize. multiscale_output: Explicit output layout.
        norm_eval: Explicit frozen-statistics setting.
        scope: Registry scope to apply legacy defaults for. Default: mmengine's current scope.

    Returns:
        (normalized arch, upsample cfg, multiscale_output, norm_eval).
    """
    legacy = extra if extra is not None else (arch if isinstance(arch, dict) else None)
    normalized = parse_arch(arch, extra)
    defaults = scope_defaults(scope) if legacy is not None else {}
    if upsample_cfg is None:
        upsample_cfg = dict(legacy['upsample']) if legacy and 'upsample' in legacy else defaults.get('upsample_cfg')
    if multiscale_output is None:
        stage4 = legacy.get('stage4', {}) if legacy else {}
        multiscale_output = stage4.get('multiscale_output', defaults.get('multiscale_output', True))
    if norm_eval is None:
        norm_eval = defaults.get('norm_eval', False)
    return normalized, check_upsample_cfg(upsample_cfg), bool(multiscale_output), bool(norm_eval)
