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
from typing import Dict, List, Optional

LOGGER = logging.getLogger('hrnet_mm')
NUMPY_BELOW = (2, 4)
LOGGED: set = set()  # the lines log_problems wrote: a command failing on one of them need not repeat it

FIXES: Dict[str, str] = {
    'setuptools': "pip install 'setuptools<81'",
    'numpy': "pip install 'numpy<2.4'",
    'xtcocotools': 'python -m hrnet_mm.rebuild xtcocotools',
}
# The libraries that need each fix; None: every library (mmengine resolves `mmseg::` bases with it).
NEEDED_BY: Dict[str, Optional[tuple]] = {'setuptools': None, 'numpy': ('mmpose',), 'xtcocotools': ('mmpose',)}


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

