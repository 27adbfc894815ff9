"""Build what a runner builds from a config, without reading any data: how packaged configs are checked.

:func:`build_config_parts` builds what the runner builds (model, optimizer wrapper, hooks, visualizer,
log processor) and every dataloader's dataset (``lazy_init=True``: the dataset and its transforms are
built, no annotation file is read), and looks up every other typed part (samplers, evaluator metrics,
parameter schedulers, loops) in the registry the runner would build it from, under the scope the
config gives it. A config that fails here fails the same way in ``tools/train.py``.

Command line: ``python -m hrnet_mm.testing.config_builds CONFIG...`` prints one line per
config (``ok <config> <model class>`` or ``FAIL <config> <reason>``) and exits 1 if any failed.
"""
import copy
import sys
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


def _optim_wrapper(model, spec: dict) -> str:
    """Build the optimizer wrapper; mmengine's AMP wrapper refuses to exist without a GPU, so there it is
    looked up and the optimizer is built inside a plain wrapper instead."""
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import OPTIM_WRAPPERS
    if spec.get('type') == 'AmpOptimWrapper' and not torch.cuda.is_available():
        plain = {k: v for k, v in spec.items() if k not in ('loss_scale', 'dtype', 'use_fsdp')}
        build_optim_wrapper(model, {**plain, 'type': 'OptimWrapper'})
        return resolve(OPTIM_WRAPPERS, spec).__name__
    return type(build_optim_wrapper(model, spec)).__name__


def _dataset(spec: dict) -> str:
    """Build a dataset without reading annotations; one that checks its folders at construction (mmseg's
    Pascal Context) is looked up, and its pipeline built under the dataset's scope, as the dataset would."""
    from mmengine.dataset import Compose
    from mmengine.registry import DATASETS
    try:
        return type(DATASETS.build({**spec, 'lazy_init': True})).__name__
    except (AssertionError, FileNotFoundError):  # no such data folder here
        found = resolve(DATASETS, spec)
        with DATASETS.switch_scope_and_registry(spec.get('_scope_')):
            Compose(spec.get('pipeline') or [])
        return found.__name__


def build_config_parts(cfg) -> Dict[str, str]:
    """Build (or, for parts that need data or a dataloader, resolve) every part of a runner config.

    Builds as ``mmengine.runner.Runner`` does, under the config's ``default_scope``: the model, the
    optimizer wrapper, the hooks, the visualizer and the log processor, and each dataloader's dataset
    (``lazy_init=True``). SyncBN becomes BN (one process). Without a GPU an AMP optimizer wrapper and,
    without its data folders, a dataset that checks them are looked up instead (see the helpers).

    Args:
        cfg (mmengine.Config): A loaded config (not modified).

    Returns:
        dict: Part name (``model``, ``train_dataloader.dataset``, ``val_evaluator[0]``, ...) -> class name.
    """
    from mmengine.registry import (
        DATA_SAMPLERS,
        FUNCTIONS,
        HOOKS,
        LOG_PROCESSORS,
        METRICS,
        MODELS,
        PARAM_SCHEDULERS,
        VISUALIZERS,
        init_default_scope,
    )
    from mmengine.registry import LOOPS as LOOP_REGISTRY

    from hrnet_mm.apis.build import replace_syncbn
    cfg = copy.deepcopy(cfg)
    replace_syncbn(cfg._cfg_dict)
    init_default_scope(cfg.get('default_scope'))  # as the runner and tools/train.py do
    model = MODELS.build(cfg.model)
    parts = {'model': type(model).__name__,
             'optim_wrapper': _optim_wrapper(model, cfg.optim_wrapper),
             'visualizer': type(VISUALIZERS.build({'name': 'visualizer', **cfg.visualizer})).__name__,
             'log_processor': type(LOG_PROCESSORS.build({'type': 'LogProcessor', **cfg.get('log_processor', {})}))
             .__name__}
    hooks = list((cfg.get('default_hooks') or {}).items()) + list(enumerate(cfg.get('custom_hooks') or []))
    for key, hook in hooks:
        if hook is not None:
            parts[f'hooks.{key}'] = type(HOOKS.build(hook)).__name__
    for key in DATALOADERS:
        loader = cfg.get(key)
        if not loader:
            continue
        parts[f'{key}.dataset'] = _dataset(loader['dataset'])
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
    configs = argv if argv is not None else sys.argv[1:]
    failed = 0
    for config in configs:
        try:
            parts = build_config_parts(Config.fromfile(config))
            print(f"ok {config} {parts['model']} ({len(parts)} parts)", flush=True)
        except Exception as err:  # report every config, then fail
            from hrnet_mm.errors import one_line
            failed += 1
            print(f'FAIL {config} {type(err).__name__}: {one_line(err, last=True)}', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
