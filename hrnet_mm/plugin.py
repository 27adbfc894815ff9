"""Everything hrnet_mm does to the host process as an OpenMMLab plugin, done once, on first use.

Importing this module (what :func:`hrnet_mm.activate` does):

- refuses a torch older than the supported range with one line, a
  :class:`~hrnet_mm.errors.SetupError` (:data:`hrnet_mm.environment.MIN_TORCH`);
- registers our modules: ``hrnet_mm.HRNet``, ``HRModule``, ``MultiResolutionFusion``, the necks
  (:mod:`hrnet_mm.models`) and ``hrnet_mm.SafeCheckpointHook`` (:mod:`hrnet_mm.checkpoint.saving`),
  and gives our scope a child in the task libraries' own root registries
  (:func:`hrnet_mm.registry.adopt_library_roots`);
- routes mmengine's checkpoint loading, for every scheme, through one checked, data-only load
  (:func:`hrnet_mm.checkpoint.install_checkpoint_loaders`; ``HRNET_MM_SAFE_LOADING=0`` opts out);
- logs each problem of the installed stack that pip cannot express (:mod:`hrnet_mm.environment`).

It needs torch and mmcv, so ``import hrnet_mm`` does not import it unless torch is already loaded (a
training, test or inference process); otherwise the first lookup of a ``hrnet_mm.*`` name in a
registry (mmengine imports the registries' ``locations``), the first ``hrnet_mm.HRNet``-style
attribute or :func:`hrnet_mm.activate` does. The ``hrnet-mm`` commands that build or load anything
call it before they start.

Example:
    >>> import hrnet_mm.plugin
    >>> from hrnet_mm.checkpoint import checkpoint_loaders_installed
    >>> checkpoint_loaders_installed()
    True
"""
import torch

from .environment import log_problems, torch_too_old
from .errors import SetupError

# Here, where hrnet_mm first imports torch: an older one would fail later, deep in a model or an export.
_TOO_OLD = torch_too_old(str(torch.__version__))
if _TOO_OLD:
    raise SetupError(_TOO_OLD)

log_problems()

from . import models  # noqa: E402,F401  (registers the network's modules)
from .checkpoint import install_checkpoint_loaders  # noqa: E402  (registers SafeCheckpointHook)
from .registry import adopt_library_roots  # noqa: E402

adopt_library_roots()
install_checkpoint_loaders()
