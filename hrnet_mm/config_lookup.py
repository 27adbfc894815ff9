"""Finding configs shipped inside the installed package, by file path or by ``hrnet_mm::`` name.

Wheels of hrnet_mm carry ``configs/`` and ``model-index.yml`` under ``hrnet_mm/.mim/`` (setup.py puts
them there, as OpenMMLab wheels do; an editable install links them). Two ways to use them:

* :func:`resolve_config` turns ``hrnet_seg/<name>.py`` into a file path when no such local file exists.
* mmengine's own ``_base_ = 'hrnet_mm::hrnet_seg/<name>.py'`` works once :func:`register_with_mmengine`
  has run in the process (importing this module runs it). mmengine only resolves ``pkg::`` for the
  module names in its ``MODULE2PACKAGE`` table; the entry added here is the supported way in.
"""
from pathlib import Path
from typing import Optional

PACKAGE = 'hrnet_mm'
PREFIX = PACKAGE + '::'

# The value mmengine is given for ``hrnet_mm``. mmengine first asks pkg_resources for a distribution of
# that name and takes <distribution location>/hrnet_mm, which is wrong for editable installs (the
# location is site-packages, the code is in the source tree). No distribution is named after this
# submodule, so mmengine falls back to importlib's spec of it, whose folder is the package actually
# imported: right for wheels, editable installs and source trees on PYTHONPATH alike.
MMENGINE_LOOKUP_NAME = PACKAGE + '.config_lookup'


def packaged_configs_dir() -> Path:
    """Folder of the configs shipped with the imported package: ``<hrnet_mm>/.mim/configs``."""
    return Path(__file__).resolve().parent / '.mim' / 'configs'


def resolve_config(path_or_name: str) -> str:
    """The config file to use for a path, a packaged config name, or an ``hrnet_mm::`` name.

    Looks, in order, at ``path_or_name`` as a local path, then at the same relative name under
    :func:`packaged_configs_dir` (``hrnet_mm::`` stripped first).

    Args:
        path_or_name: e.g. ``configs/hrnet_seg/x.py``, ``hrnet_seg/x.py`` or ``hrnet_mm::hrnet_seg/x.py``.

    Returns:
        str: The local path as given if that file exists, else the absolute path of the packaged config.

    Raises:
        FileNotFoundError: Neither exists; the one-line message names both places looked at.

    Example:
        >>> resolve_config('hrnet_mm::hrnet_seg/no-such-config.py')
        Traceback (most recent call last):
        ...
        FileNotFoundError: config hrnet_mm::hrnet_seg/no-such-config.py not found: ...
    """
    name = path_or_name[len(PREFIX):] if path_or_name.startswith(PREFIX) else path_or_name
    local: Optional[Path] = None if name != path_or_name else Path(path_or_name)
    if local is not None and local.is_file():
        return path_or_name
    packaged = packaged_configs_dir() / name
    if not Path(name).is_absolute() and packaged.is_file():
        return str(packaged)
    looked = ([f'{local.resolve()} (local)'] if local is not None else []) + [f'{packaged} (packaged)']
    raise FileNotFoundError(f'config {path_or_name} not found: looked at ' + ', '.join(looked))


def register_with_mmengine() -> None:
    """Let mmengine resolve ``hrnet_mm::<folder>/<name>.py`` in configs (``_base_`` and ``Config.fromfile``).

    Idempotent. mmengine then reads ``<hrnet_mm>/.mim/model-index.yml`` and loads
    ``<hrnet_mm>/.mim/configs/<folder>/<name>.py``.
    """
    from mmengine.config import utils
    utils.MODULE2PACKAGE.setdefault(PACKAGE, MMENGINE_LOOKUP_NAME)


register_with_mmengine()
