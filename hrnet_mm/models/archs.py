"""Every HRNet preset in one place, and the parser that normalizes ``arch``.

A normalized arch is ``{'stage1': {...}, ..., 'stage4': {...}}``; each stage holds exactly
``num_modules, num_branches, block, num_blocks, num_channels``, the fields of the official configs
and of OpenMMLab's ``extra=`` stages (the registry edge, :mod:`hrnet_mm.models.dropin`, turns a
legacy ``extra`` into this form).
"""
import copy
from typing import Dict, Tuple, Union

from hrnet_mm.errors import ConfigError, is_int

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
    _check_keys(f'arch[{name!r}]', stage, STAGE_KEYS)
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


def parse_arch(arch: Union[str, dict] = 'w32') -> Dict[str, dict]:
    """Normalize a preset name or a dict of stages.

    Args:
        arch: A key of :data:`ARCH_ZOO` or an alias (e.g. ``'w32'``, ``'W18_SMALL_V2'``), or a dict with
            exactly ``stage1``..``stage4``, each with exactly :data:`STAGE_KEYS`.

    Returns:
        dict: ``{'stage1': ..., 'stage4': ...}`` with validated, tuple-valued fields (a new dict).

    Raises:
        ConfigError: Naming the bad field and the allowed values.

    Example:
        >>> parse_arch('W18')['stage4']['num_channels']
        (18, 36, 72, 144)
    """
    spec = ARCH_ZOO[preset_name(arch)] if isinstance(arch, str) else arch
    if not isinstance(spec, dict):
        raise ConfigError(f'arch must be a preset name or a dict of stage1..stage4, got {type(spec).__name__}')
    stages = tuple(f'stage{k}' for k in range(1, 5))
    _check_keys('arch dict', spec, stages)
    return {name: _check_stage(name, copy.deepcopy(spec[name]), k) for k, name in enumerate(stages, 1)}


def _check_keys(what: str, spec: dict, keys: Tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in spec]
    if missing:
        raise ConfigError(f'{what} is missing {missing}; it takes exactly {keys}')
    unknown = sorted(set(spec) - set(keys))
    if unknown:  # e.g. a legacy extra's upsample / multiscale_output: the registry's hrnet_mm.HRNet reads those
        raise ConfigError(f'{what} has keys the network does not read: {unknown}; it takes exactly {keys} '
                          '(the resize is upsample_cfg=, the layout multiscale_output=; a legacy extra builds '
                          "through the registry, type='hrnet_mm.HRNet')")
