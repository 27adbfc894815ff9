"""Configs to models: loading a config, switching SyncBN to BN, building a config's model on CPU."""
import importlib
from pathlib import Path
from typing import Any, Optional, Tuple, Union

from hrnet_mm.errors import ConfigError, one_line

from .libraries import Library, library_of


def load_config(config: Union[str, Path, Any]):
    """An mmengine ``Config`` from a path or ``pkg::relative/path.py`` (a loaded config is returned as is).

    Raises:
        ConfigError: The file does not exist or mmengine cannot parse it (one line, naming the file).
    """
    from mmengine.config import Config
    if not isinstance(config, (str, Path)):
        return config
    if '::' in str(config):  # a config shipped in an installed package: mmseg::hrnet/...
        package, _, relative = str(config).partition('::')
        try:
            root = Path(importlib.import_module(package).__file__ or '').parent
        except ImportError:
            raise ConfigError(f'config {config}: package {package!r} is not installed') from None
        config = root / '.mim' / 'configs' / relative
    if not Path(config).is_file():
        raise ConfigError(f'config {config} does not exist')
    try:
        return Config.fromfile(str(config))
    except Exception as err:  # mmengine raises many types here; the user needs file and reason
        reason = one_line(err, last=True)
        raise ConfigError(f'config {config} cannot be loaded: {type(err).__name__}: {reason}') from None


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
        config (str | mmengine.Config): Config path, or a loaded config (modified in place).
        checkpoint: Checkpoint path. Default: None (random init).

    Returns:
        (model in eval mode, its :class:`~hrnet_mm.apis.libraries.Library`, the mmengine ``Config``).
    """
    from mmengine.registry import DefaultScope
    from mmengine.runner import load_checkpoint
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
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True, logger='silent')
    model.eval()  # not chained: some OpenMMLab train() overrides return None
    return model, library, cfg
