"""Build what a runner builds from a config, without reading any data: how packaged configs are checked.

:func:`build_config_parts` builds the runner (model, hooks, visualizer, log processor), the optimizer
wrapper and every dataloader's dataset (``lazy_init=True``: the dataset and its transforms are
built, no annotation file is read), and looks up every other typed part (samplers, evaluator metrics,
parameter schedulers, loops) in the registry the runner would build it from, under the scope the
config gives it. A config that fails here fails the same way in ``tools/train.py``.

Command line: ``python -m hrnet_mm.testing.config_builds WORK_DIR CONFIG...`` prints one line per
config (``ok <config> <model class>`` or ``FAIL <config> <reason>``) and exits 1 if any failed.
"""
import copy
import sys
from pathlib import Path
from typing import Any, Dict, List

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
EVALUATORS = ('val_evaluator', 'test_evaluator')
LOOPS = ('train_cfg', 'val_cfg', 'test_cfg')


def _typed(node: Any) -> List[dict]:
    """The dicts with a ``type`` in a config value (a dict or a list of dicts)."""
    items = node if isinstance(node, (list, tuple)) else [node]
    return [item for item in items if isinstance(item, dict) and 'type' in item]


def resolve(registry, spec: dict) -> Any:
    """The class ``registry.build(spec)`` would instantiate, found as mmengine finds it (``_scope_`` honoured).

    Raises:
        KeyError: The type is in no registry the build would search.
    """
    kind = spec['type']
    if not isinstance(kind, str):
        return kind
    with registry.switch_scope_and_registry(spec.get('_scope_')) as searched:
        found = searched.get(kind)
        where = f'{searched.scope}::{searched.name}'
    if found is None:
        raise KeyError(f'{kind} is not in the {where} registry')
    return found


def build_config_parts(cfg, work_dir: str) -> Dict[str, str]:
    """Build (or, for parts that need data or a dataloader, resolve) every part of a runner config.

    SyncBN becomes BN (one process) and the runner works in ``work_dir``.

    Args:
        cfg (mmengine.Config): A loaded config (not modified).
        work_dir: Where the runner writes its log.

    Returns:
        dict: Part name (``model``, ``train_dataloader.dataset``, ``val_evaluator``, ...) -> class name.
    """
    from mmengine.registry import DATA_SAMPLERS, DATASETS, FUNCTIONS, METRICS, PARAM_SCHEDULERS
    from mmengine.registry import LOOPS as LOOP_REGISTRY
    from mmengine.runner import Runner

    from hrnet_mm.apis.build import replace_syncbn
    cfg = copy.deepcopy(cfg)
    replace_syncbn(cfg._cfg_dict)
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    runner = Runner.from_cfg(cfg)  # sets the config's default scope, as tools/train.py does
    parts = {'model': type(runner.model).__name__,
             'optim_wrapper': type(runner.build_optim_wrapper(cfg.optim_wrapper)).__name__}
    for key in DATALOADERS:
        loader = cfg.get(key)
        if not loader:
            continue
        dataset = DATASETS.build({**loader['dataset'], 'lazy_init': True})
        parts[f'{key}.dataset'] = type(dataset).__name__
        for sub, registry in (('sampler', DATA_SAMPLERS), ('batch_sampler', DATA_SAMPLERS),
                              ('collate_fn', FUNCTIONS)):
            for spec in _typed(loader.get(sub)):
                parts[f'{key}.{sub}'] = resolve(registry, spec).__name__
    for key, registry in [(k, METRICS) for k in EVALUATORS] + [('param_scheduler', PARAM_SCHEDULERS)] + \
            [(k, LOOP_REGISTRY) for k in LOOPS]:
        value = cfg.get(key)
        if isinstance(value, dict) and 'metrics' in value:  # an Evaluator dict
            value = value['metrics']
        for index, spec in enumerate(_typed(value)):
            parts[f'{key}[{index}]'] = resolve(registry, spec).__name__
    return parts


def main(argv=None) -> int:
    from mmengine.config import Config

    import hrnet_mm  # noqa: F401  (hrnet_mm:: bases)
    work_dir, *configs = argv if argv is not None else sys.argv[1:]
    failed = 0
    for config in configs:
        try:
            parts = build_config_parts(Config.fromfile(config), str(Path(work_dir) / Path(config).stem))
            print(f"ok {config} {parts['model']} ({len(parts)} parts)", flush=True)
        except Exception as err:  # report every config, then fail
            from hrnet_mm.errors import one_line
            failed += 1
            print(f'FAIL {config} {type(err).__name__}: {one_line(err, last=True)}', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
