"""Configs to models: switching SyncBN to BN, building a config's model on CPU."""
import importlib
import warnings
from pathlib import Path
from typing import Any, Optional, Tuple, Union

from hrnet_mm.config_lookup import load_config, resolve_config

from .libraries import Library, library_of

__all__ = ['build_checked_model', 'build_model', 'load_config', 'replace_syncbn']


def replace_syncbn(node: Any) -> int:
    """Turn every SyncBN config into BN in place; returns how many were changed."""
    changed = 0
    if isinstance(node, dict):
        if node.get('type') in ('SyncBN', 'MMSyncBN'):
            node['type'] = 'BN'
            changed += 1
        for value in node.values():
            changed += replace_syncbn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            changed += replace_syncbn(value)
    return changed


def build_model(config, checkpoint: Optional[str] = None) -> Tuple[Any, Library, Any]:
    """Build a config's model on CPU through its library's registry; optionally load a checkpoint (strict).

    SyncBN becomes BN (one device) and backbone pretraining is skipped (no download): a checkpoint,
    if given, supplies every weight.

    Args:
        config (str | mmengine.Config): Config path, packaged or ``pkg::`` name (see
            :func:`~hrnet_mm.config_lookup.resolve_config`), or a loaded config (modified in place).
        checkpoint: Checkpoint path. Default: None (random init).

    Returns:
        (model in eval mode, its :class:`~hrnet_mm.apis.libraries.Library`, the mmengine ``Config``).

    Raises:
        ModelMismatchError: The checkpoint was made for another model (task, classes / keypoints, image
            channels, HRNet widths or other tensors; :mod:`hrnet_mm.apis.compatibility`), checked before
            any weight is loaded.
    """
    from mmengine.registry import DefaultScope
    from mmengine.runner import load_state_dict
    cfg = load_config(config)
    library = library_of(cfg)
    replace_syncbn(cfg._cfg_dict)
    if 'pretrained' in cfg.model:
        cfg.model.pretrained = None
    if 'init_cfg' in cfg.model.get('backbone', {}):
        cfg.model.backbone.init_cfg = None
    registry = importlib.import_module(f'{library.name}.registry').MODELS
    with DefaultScope.overwrite_default_scope(library.name):
        model = registry.build(cfg.model)
    if checkpoint is not None:
        from hrnet_mm.checkpoint import fetch_checkpoint, unwrap_state_dict

        from .compatibility import check_checkpoint_fits
        state_dict = unwrap_state_dict(fetch_checkpoint(checkpoint), checkpoint)
        check_checkpoint_fits(model, state_dict, checkpoint, cfg)  # said in a user's terms, before loading
        load_state_dict(model, state_dict, strict=True, logger='silent')
    model.eval()  # not chained: some OpenMMLab train() overrides return None
    return model, library, cfg


def build_checked_model(config: Union[str, Path, Any], checkpoint: Optional[str]) -> Tuple[Any, Library, Any]:
    """:func:`build_model` for the files a user names: a config path, packaged or ``hrnet_mm::`` name, and a
    checkpoint, each refused in one line when it is missing or does not fit (what export, the engines
    and the commands build).

    Raises:
        ConfigError: No such config, or a checkpoint made for another model than the config's (one
            line naming both files and what differs: :mod:`hrnet_mm.apis.compatibility`).
        FileNotFoundError: No such checkpoint.
    """
    if isinstance(config, (str, Path)) and '::' not in str(config).replace('hrnet_mm::', ''):
        config = resolve_config(str(config))  # configs/..., hrnet_seg/<name>.py or hrnet_mm::hrnet_seg/...
    if checkpoint is not None and not Path(checkpoint).expanduser().is_file():
        raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
    with warnings.catch_warnings():  # the libraries' deprecation chatter: no news to someone running a model
        warnings.simplefilter('ignore')
        return build_model(config, checkpoint)
