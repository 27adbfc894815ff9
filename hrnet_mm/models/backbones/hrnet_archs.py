"""Every HRNet preset in one place, and the parser that normalizes ``arch`` / legacy ``extra``.

A normalized arch is ``{'stage1': {...}, ..., 'stage4': {...}}``; each stage holds
``num_modules, num_branches, block, num_blocks, num_channels`` exactly as the official configs and
OpenMMLab's ``extra=`` do, so a stock config switches to us by changing ``type`` alone.
"""
import copy
from typing import Dict, Optional, Union

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
# Common spellings of the same presets.
ALIASES = {'w18-small': 'w18-small-v1', 'w18_small': 'w18-small-v1', 'w18_small_v1': 'w18-small-v1',
           'w18_small_v2': 'w18-small-v2', 'small-v1': 'w18-small-v1', 'small-v2': 'w18-small-v2'}


def _check_stage(name: str, stage: dict, expected_branches: int) -> dict:
    if not isinstance(stage, dict):
        raise ValueError(f'arch[{name!r}] must be a dict with keys {STAGE_KEYS}, got {type(stage).__name__}')
    missing = [k for k in STAGE_KEYS if k not in stage]
    if missing:
        raise ValueError(f'arch[{name!r}] is missing {missing}; each stage needs {STAGE_KEYS}')
    stage = dict(stage)
    if stage['block'] not in BLOCK_TYPES:
        raise ValueError(f"arch[{name!r}]['block'] must be one of {BLOCK_TYPES}, got {stage['block']!r}")
    if stage['num_branches'] != expected_branches:
        raise ValueError(f"arch[{name!r}]['num_branches'] must be {expected_branches} (stage k has k "
                         f"branches), got {stage['num_branches']}")
    for key in ('num_blocks', 'num_channels'):
        values = tuple(stage[key])
        if len(values) != expected_branches:
            raise ValueError(f'arch[{name!r}][{key!r}] needs one entry per branch ({expected_branches}), '
                             f'got {values}')
        if any(not isinstance(v, int) or v < 1 for v in values):
            raise ValueError(f'arch[{name!r}][{key!r}] must hold positive ints, got {values}')
        stage[key] = values
    if not isinstance(stage['num_modules'], int) or stage['num_modules'] < 1:
        raise ValueError(f"arch[{name!r}]['num_modules'] must be a positive int, got {stage['num_modules']!r}")
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
        ValueError: Naming the bad field and the allowed values.
    """
    spec = extra if extra is not None else ('w32' if arch is None else arch)
    if isinstance(spec, str):
        key = ALIASES.get(spec.lower(), spec.lower())
        if key not in ARCH_ZOO:
            raise ValueError(f'arch must be one of {sorted(ARCH_ZOO)} or a dict of stage1..stage4, got {spec!r}')
        spec = ARCH_ZOO[key]
    if not isinstance(spec, dict):
        raise ValueError(f'arch must be a preset name or a dict of stage1..stage4, got {type(spec).__name__}')
    missing = [f'stage{k}' for k in range(1, 5) if f'stage{k}' not in spec]
    if missing:
        raise ValueError(f'arch dict is missing {missing}; presets: {sorted(ARCH_ZOO)}')
    return {f'stage{k}': _check_stage(f'stage{k}', copy.deepcopy(spec[f'stage{k}']), k) for k in range(1, 5)}


def arch_width(arch: Dict[str, dict]) -> int:
    """Width C of a normalized arch (channels of the highest-resolution branch)."""
    return arch['stage4']['num_channels'][0]
