"""Checks of the installed stack that pip's metadata cannot express, each with the command that fixes it.

The wheel pins what it can (``setuptools<81``, ``numpy<2.4``); what it cannot is a numpy-2 build of
xtcocotools (the published wheel is built for numpy 1, mmpose imports it, and on Python 3.13 its
source does not even build unpatched) and a setuptools that another package downgraded or lifted
past the pin. Importing hrnet_mm logs each problem found as one line on the ``hrnet_mm`` logger
(silence it with ``logging.getLogger('hrnet_mm').setLevel('ERROR')``); ``hrnet-mm train`` / ``test``
stop with that line when the library they drive needs the fix.
The xtcocotools fix is :mod:`hrnet_mm.rebuild` (``python -m hrnet_mm.rebuild xtcocotools``).
"""
import importlib.util
import logging
import re
from typing import Dict, List, Optional

LOGGER = logging.getLogger('hrnet_mm')
NUMPY_BELOW = (2, 4)
# The oldest torch the fast suite passes on (docs/install.md, "Supported stacks"; make test-stacks).
MIN_TORCH = (2, 1)
LOGGED: set = set()  # the lines log_problems wrote: a command failing on one of them need not repeat it

FIXES: Dict[str, str] = {
    'setuptools': "pip install 'setuptools<81'",
    'numpy': "pip install 'numpy<2.4'",
    'xtcocotools': 'python -m hrnet_mm.rebuild xtcocotools',
}
# The libraries that need each fix; None: every library (mmengine resolves `mmseg::` bases with it).
NEEDED_BY: Dict[str, Optional[tuple]] = {'setuptools': None, 'numpy': ('mmpose',), 'xtcocotools': ('mmpose',)}


# The command that installs each piece of the stack a command may import, by top-level module name.
INSTALLS: Dict[str, str] = {
    'torch': 'pip install torch torchvision  (the build for your CUDA or CPU)',
    'torchvision': 'pip install torchvision  (the release that matches your torch)',
    'mmcv': 'python -m hrnet_mm.rebuild mmcv',
    'mmengine': "pip install 'mmengine==0.10.7'",
    'mmseg': "pip install 'hrnet_mm[seg]'",
    'mmdet': "pip install 'hrnet_mm[det]'",
    'mmpose': "pip install --no-deps 'mmpose==1.3.2' && pip install 'hrnet_mm[pose]'",
    'mmpretrain': "pip install 'hrnet_mm[cls]'",
    'xtcocotools': 'python -m hrnet_mm.rebuild xtcocotools',
    'tensorboard': 'pip install tensorboard',
    'onnx': "pip install 'hrnet_mm[deploy]'",
    'onnxscript': 'pip install onnxscript',
    'onnxruntime': "pip install 'hrnet_mm[deploy]'",
    'openvino': "pip install 'hrnet_mm[deploy]'",
    'torchao': 'pip install torchao',
}
MMCV_OPS = 'mmcv._ext'  # mmcv's compiled ops: missing from mmcv-lite, broken by a build for another torch


def missing_piece(err: ImportError) -> Optional[str]:
    """The line for an import that failed on a piece of the stack: what is missing and what installs it.

    Args:
        err: The ImportError (or ModuleNotFoundError) a command met.

    Returns:
        ``<piece> is not installed (No module named ...); install it with: <command>``, a line for
        mmcv's ops, or None when the module is none of :data:`INSTALLS` (a bug, not a set-up problem).

    Example:
        >>> print(missing_piece(ModuleNotFoundError("No module named 'tensorboard'", name='tensorboard')))
        tensorboard is not installed; install it with: pip install tensorboard
        >>> missing_piece(ModuleNotFoundError("No module named 'scipy.x'", name='scipy.x')) is None
        True
    """
    name = err.name or ''
    if name == MMCV_OPS or name.startswith(MMCV_OPS + '.'):
        return ("mmcv's compiled ops do not import (mmcv-lite, or a build for another torch); "
                f'rebuild them with: {INSTALLS["mmcv"]} --force')
    top = name.split('.')[0]
    if top not in INSTALLS:
        return None
    if isinstance(err, ModuleNotFoundError) and name == top:
        return f'{top} is not installed; install it with: {INSTALLS[top]}'
    detail = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
    return f'{top} is installed but does not import ({detail}); reinstall it with: {INSTALLS[top]}'


def installed(name: str) -> bool:
    """Whether module ``name`` imports (one that is present but fails to import does not count)."""
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def require_module(name: str, needed_for: Optional[str] = None) -> None:
    """Raise a :class:`~hrnet_mm.errors.MissingPackageError` naming what installs ``name`` if it does not import.

    For a command to check an optional piece (``tensorboard``, an engine, ``onnx``) before it starts
    work that would fail on it much later. The one place that words these lines (:data:`INSTALLS`).

    Args:
        name: The module.
        needed_for: What needs it, to open the line (e.g. ``'ONNX export'``). Default: None.

    Example:
        >>> import sys
        >>> from unittest import mock
        >>> with mock.patch.dict(sys.modules, {'onnxscript': None}):  # as if it were not installed
        ...     try:
        ...         require_module('onnxscript', 'the dynamo exporter')
        ...     except ImportError as err:
        ...         print(err)
        the dynamo exporter needs onnxscript: onnxscript is not installed; install it with: pip install onnxscript
    """
    from hrnet_mm.errors import MissingPackageError
    try:
        importlib.import_module(name)
        return
    except ImportError as err:
        line = missing_piece(err) or f'{name} does not import ({err})'
    raise MissingPackageError(f'{needed_for} needs {name}: {line}' if needed_for else line)


def torch_too_old(version: str) -> Optional[str]:
    """The line that refuses a torch older than :data:`MIN_TORCH`, or None for a supported one.

    Args:
        version: ``torch.__version__`` (``'2.1.2+cu121'``, ``'2.5.0a0+git1234'``); one that does not
            start with ``major.minor`` is not refused.

    Example:
        >>> print(torch_too_old('2.0.1+cu118'))  # doctest: +ELLIPSIS
        hrnet_mm needs torch >= 2.1, found 2.0.1+cu118; install a newer one: pip install 'torch>=2.1' ...
        >>> torch_too_old('2.1.0a0+git5f0a1f7') is None
        True
    """
    found = re.match(r'(\d+)\.(\d+)', version)
    if found is None or (int(found.group(1)), int(found.group(2))) >= MIN_TORCH:
        return None
    floor = '.'.join(map(str, MIN_TORCH))
    return (f"hrnet_mm needs torch >= {floor}, found {version}; install a newer one: "
            f"pip install 'torch>={floor}' torchvision  (the build for your CUDA or CPU)")


def _numpy_version() -> tuple:
    import numpy
    return tuple(int(part) for part in numpy.__version__.split('.')[:2])


def _xtcocotools_works() -> bool:
    try:
        import xtcocotools._mask  # noqa: F401  (the compiled part: fails when built for another numpy ABI)
    except (ImportError, ValueError):  # ValueError: "numpy.dtype size changed, may indicate binary incompatibility"
        return False
    return True


def problems(library: Optional[str] = None) -> List[str]:
    """One line per problem of the installed stack, each ending with the command that fixes it.

    Args:
        library: Only the problems that break this library (``mmpose``, ``mmseg``, ...). Default: all.

    Example:
        >>> all(line.startswith('hrnet_mm:') for line in problems())
        True
    """
    found = {}
    if importlib.util.find_spec('pkg_resources') is None:
        found['setuptools'] = ('setuptools >= 81 has no pkg_resources, which mmengine needs to resolve '
                               "'mmseg::'-style configs (and mim to run)")
    if _numpy_version() >= NUMPY_BELOW:
        found['numpy'] = "numpy >= 2.4 breaks mmpose 1.3's keypoint drawing (int() of 1-element arrays)"
    if importlib.util.find_spec('xtcocotools') is not None:
        if not _xtcocotools_works():
            found['xtcocotools'] = 'xtcocotools is built for another numpy (mmpose cannot import it)'
    elif importlib.util.find_spec('mmpose') is not None:
        found['xtcocotools'] = 'mmpose needs xtcocotools, which is not installed'
    return [f'hrnet_mm: {reason}; fix: {FIXES[name]}' for name, reason in found.items()
            if library is None or NEEDED_BY[name] is None or library in NEEDED_BY[name]]


def log_problems() -> None:
    """Log :func:`problems` on the ``hrnet_mm`` logger (one warning line each; no handler needed)."""
    for line in problems():
        if LOGGER.isEnabledFor(logging.WARNING):
            LOGGED.add(line)
        LOGGER.warning(line)

