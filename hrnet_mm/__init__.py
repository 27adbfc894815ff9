"""hrnet_mm: HRNet (TPAMI 2020) backbone, fusion blocks and necks for OpenMMLab 2.x."""
import os
import warnings

# mmengine 0.10 imports pkg_resources, whose deprecation notice would be the first line of every
# hrnet-mm command's output; it is about mmengine's packaging, not about anything the user did.
# HRNET_MM_KEEP_WARNINGS=1 keeps it.
if os.environ.get('HRNET_MM_KEEP_WARNINGS', '0').strip().lower() not in ('1', 'true', 'yes', 'on'):
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

from .environment import log_problems  # noqa: E402

# What pip cannot pin (a numpy-2 build of xtcocotools, a setuptools with pkg_resources): one line each.
log_problems()

from .checkpoint import install_checkpoint_loaders  # noqa: E402
from .version import __version__  # noqa: E402,F401

# Importing hrnet_mm (custom_imports in a config) routes mmengine's checkpoint loading, for every
# scheme, through one checked, data-only load (hrnet_mm/checkpoint/); HRNET_MM_SAFE_LOADING=0 opts out.
install_checkpoint_loaders()

# config_lookup lets mmengine resolve hrnet_mm:: configs; models registers the modules.
from . import config_lookup  # noqa: E402,F401

try:
    from . import models  # noqa: F401
    from .models import HRModule, HRNet, HRNetClsNeck, HRNetV2Neck, HRNetV2pNeck, MultiResolutionFusion  # noqa: F401
except ModuleNotFoundError as err:
    if (err.name or '').split('.')[0] != 'mmcv':
        raise
    # `python -m hrnet_mm.rebuild mmcv` runs inside this package before mmcv exists: say it, go on.
    import logging
    logging.getLogger('hrnet_mm').warning('hrnet_mm: mmcv is not installed, so no model is registered; '
                                          'build it with: python -m hrnet_mm.rebuild mmcv')
