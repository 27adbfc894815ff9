"""The one place configs are found and loaded: file paths, packaged names and ``pkg::`` names.

Wheels of hrnet_mm carry ``configs/`` and ``model-index.yml`` under ``hrnet_mm/.mim/`` (setup.py puts
them there, as OpenMMLab wheels do; an editable install links them). Three ways to use them:

* :func:`resolve_config` turns a path, ``hrnet_seg/<name>.py`` or ``<pkg>::<folder>/<name>.py`` (ours,
  ``mmseg::``, ``mmdet::`` ...) into a file path; :func:`load_config` loads it with one-line errors.
  Every ``hrnet-mm`` command that takes a config goes through them.
* mmengine's own ``_base_ = 'hrnet_mm::hrnet_seg/<name>.py'`` works once :func:`register_with_mmengine`
  has run in the process (importing this module runs it). mmengine only resolves ``pkg::`` for the
  module names in its ``MODULE2PACKAGE`` table; the entry added here is the supported way in.
"""
import importlib.util
from pathlib import Path
from typing import Any, List, Union

from hrnet_mm.errors import ConfigError, one_line

PACKAGE = 'hrnet_mm'
SEPARATOR = '::'

# The value mmengine is given for ``hrnet_mm``. mmengine first asks pkg_resources for a distribution of
# that name and takes <distribution location>/hrnet_mm, which is wrong for editable installs (the
# location is site-packages, the code is in the source tree). No distribution is named after this
# submodule, so mmengine falls back to importlib's spec of it, whose folder is the package actually
# imported: right for wheels, editable installs and source trees on PYTHONPATH alike.
MMENGINE_LOOKUP_NAME = PACKAGE + '.config_lookup'


def packaged_configs_dir(package: str = PACKAGE) -> Path:
    """Folder of the configs an installed package ships: ``<package>/.mim/configs``.

    Raises:
        FileNotFoundError: ``package`` is not installed.
    """
    if package == PACKAGE:  # the hrnet_mm actually imported, wherever it lives
        return Path(__file__).resolve().parent / '.mim' / 'configs'
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f'package {package!r} is not installed, so it ships no configs')
    return Path(spec.origin).resolve().parent / '.mim' / 'configs'


def resolve_config(path_or_name: Union[str, Path]) -> str:
    """The config file to use for a path, a packaged config name, or a ``<pkg>::`` name.

    ``<pkg>::<folder>/<name>.py`` is looked up in ``<pkg>/.mim/configs`` (``hrnet_mm::`` in ours,
    ``mmseg::`` in mmseg's, ...). Anything else is first a local path, then the same relative name
    under our packaged configs (``hrnet_seg/<name>.py``).

    Args:
        path_or_name: e.g. ``configs/hrnet_seg/x.py``, ``hrnet_seg/x.py``, ``hrnet_mm::hrnet_seg/x.py``
            or ``mmseg::_base_/default_runtime.py``.

    Returns:
        str: The local path as given if that file exists, else the absolute path of the packaged config.

    Raises:
        FileNotFoundError: No such file; the one-line message names every place looked at.

    Example:
        >>> resolve_config('hrnet_mm::hrnet_seg/no-such-config.py')
        Traceback (most recent call last):
        ...
        FileNotFoundError: config hrnet_mm::hrnet_seg/no-such-config.py not found: ...
    """
    text = str(path_or_name)
    looked: List[str] = []
    package, separator, name = text.partition(SEPARATOR)
    if not separator:
        package, name = PACKAGE, text
        if Path(text).is_file():
            return text
        looked.append(f'{Path(text).resolve()} (local)')
    packaged = packaged_configs_dir(package) / name
    if not Path(name).is_absolute() and packaged.is_file():
        return str(packaged)
    looked.append(f'{packaged} (packaged)')
    raise FileNotFoundError(f'config {text} not found: looked at ' + ', '.join(looked))


def load_config(config: Union[str, Path, Any]):
    """An mmengine ``Config`` from anything :func:`resolve_config` takes (a loaded config is returned as is).

    Raises:
        FileNotFoundError: No such config (one line, naming where it looked).
        ConfigError: mmengine cannot parse it (one line, naming the file and the reason).
    """
    from mmengine.config import Config
    if not isinstance(config, (str, Path)):
        return config
    path = resolve_config(config)
    try:
        return Config.fromfile(path)
    except Exception as err:  # mmengine raises many types here; the user needs file and reason
        reason = one_line(err, last=True)
        raise ConfigError(f'config {config} cannot be loaded: {type(err).__name__}: {reason}') from None


def register_with_mmengine() -> None:
    """Let mmengine resolve ``hrnet_mm::<folder>/<name>.py`` in configs (``_base_`` and ``Config.fromfile``).

    Idempotent. mmengine then reads ``<hrnet_mm>/.mim/model-index.yml`` and loads
    ``<hrnet_mm>/.mim/configs/<folder>/<name>.py``.
    """
    from mmengine.config import utils
    utils.MODULE2PACKAGE.setdefault(PACKAGE, MMENGINE_LOOKUP_NAME)


register_with_mmengine()
