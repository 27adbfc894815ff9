"""Configs to models: switching SyncBN to BN, building a config's model on CPU."""
import importlib
from typing import Any, Optional, Tuple

from hrnet_mm.config_lookup import load_config

from .libraries import Library, library_of

__all__ = ['build_model', 'load_config', 'replace_syncbn']


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
