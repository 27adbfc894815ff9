"""Every way mmengine fetches a checkpoint, routed through one checked load.

mmengine picks a loader by the start of the name (``CheckpointLoader``); its own loaders call
``torch.load`` without weights-only loading for URLs (through ``torch.hub``), for
``open-mmlab://``, ``torchvision://`` and ``mmcls://`` names (which resolve to URLs or to files
under mmengine's home) and for storage backends (``s3://``, ``petrel://``). Importing hrnet_mm
registers, through mmengine's own ``CheckpointLoader.register_scheme``, one loader per scheme that
fetches the bytes the same way and hands them to :mod:`hrnet_mm.checkpoint.loading`:

- local files: loaded in place;
- ``http(s)://``: downloaded once into torch.hub's cache (``<hub dir>/checkpoints/<name>``),
  by the first process of each node, then loaded from there; the sha256 prefix of an OpenMMLab
  name is checked on every load, as for local files;
- ``open-mmlab://`` / ``openmmlab://``, ``torchvision://`` / ``modelzoo://``, ``mmcls://``: the
  name is resolved by mmengine's own tables, then fetched as above;
- ``s3://`` / ``petrel://`` (with or without a ``name:`` prefix): read through mmengine's file
  backend, checked in memory;
- ``pavi://``: refused (its client downloads and unpickles by itself).

``HRNET_MM_SAFE_LOADING=0`` in the environment, read when hrnet_mm is imported, leaves mmengine's
loaders as they are; :func:`uninstall_checkpoint_loaders` restores them at run time.
"""
import os
import os.path as osp
from typing import Any, Callable, Dict, Optional
from urllib.parse import urlparse

import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.runner import checkpoint as mm_checkpoint

from .integrity import CheckpointError
from .loading import load_checkpoint_bytes, load_local_checkpoint

SWITCH = 'HRNET_MM_SAFE_LOADING'
_saved: Dict[str, Callable] = {}


def _local_rank() -> int:
    return int(os.environ.get('LOCAL_RANK', get_dist_info()[0]))


def download(url: str, model_dir: Optional[str] = None) -> str:
    """Fetch ``url`` into torch.hub's checkpoint cache once per node and return the cached path.

    torch.hub writes to a temporary name and renames, so an interrupted download leaves nothing.
    """
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    name = osp.basename(urlparse(url).path)
    if not name:
        raise CheckpointError(f'{url} names no file')
    cached = osp.join(model_dir, name)
    world_size = get_dist_info()[1]
    if _local_rank() == 0 and not osp.isfile(cached):
        os.makedirs(model_dir, exist_ok=True)
        print_log(f'downloading {url} to {cached}', logger='current')
        try:
            torch.hub.download_url_to_file(url, cached, hash_prefix=None, progress=False)
        except Exception as err:  # noqa: BLE001  (urllib's and http's errors have no common base)
            raise CheckpointError(f'cannot download {url}: {type(err).__name__}: {err}') from None
    if world_size > 1:
        torch.distributed.barrier()
    return cached


def load_from_local(filename: str, map_location: Any = None) -> dict:
    """mmengine's local scheme (``''``): a checked load of the file."""
    return load_local_checkpoint(filename, map_location)


def load_from_http(filename: str, map_location: Any = None, model_dir: Optional[str] = None) -> dict:
    """``http(s)://``: downloaded into torch.hub's cache, then a checked load of the cached file."""
    cached = download(filename, model_dir)
    try:
        return load_local_checkpoint(cached, map_location)
    except CheckpointError as err:
        raise CheckpointError(f'{err} (downloaded from {filename}; delete {cached} to download it again)') from None


def _resolved(table: Dict[str, str], name: str, scheme: str) -> str:
    if name not in table:
        raise CheckpointError(f'{scheme}{name} is not a known model name (mmengine has {len(table)} under {scheme})')
    return table[name]


def load_from_openmmlab(filename: str, map_location: Any = None) -> dict:
    """``open-mmlab://`` / ``openmmlab://``: mmengine's name table gives a URL or a file in its home."""
    scheme = 'open-mmlab://' if filename.startswith('open-mmlab://') else 'openmmlab://'
    name = filename[len(scheme):]
    name = mm_checkpoint.get_deprecated_model_names().get(name, name)
    target = _resolved(mm_checkpoint.get_external_models(), name, scheme)
    if target.startswith(('http://', 'https://')):
        return load_from_http(target, map_location)
    return load_local_checkpoint(osp.join(mm_checkpoint._get_mmengine_home(), target), map_location)


def load_from_torchvision(filename: str, map_location: Any = None) -> dict:
    """``torchvision://`` / ``modelzoo://``: torchvision's weight URLs."""
    scheme = 'modelzoo://' if filename.startswith('modelzoo://') else 'torchvision://'
    url = _resolved(mm_checkpoint.get_torchvision_models(), filename[len(scheme):], scheme)
    return load_from_http(url, map_location)


def load_from_mmcls(filename: str, map_location: Any = None) -> dict:
    """``mmcls://``: mmcls's weight URLs; keys renamed as mmengine does for them."""
    url = _resolved(mm_checkpoint.get_mmcls_models(), filename[len('mmcls://'):], 'mmcls://')
    return mm_checkpoint._process_mmcls_checkpoint(load_from_http(url, map_location))


def load_from_backend(filename: str, map_location: Any = None) -> dict:
    """``s3://`` / ``petrel://``: the bytes through mmengine's file backend, checked in memory."""
    from mmengine.fileio import get_file_backend
    try:
        data = get_file_backend(filename, backend_args={'backend': 'petrel'}).get(filename)
    except ImportError as err:
        raise CheckpointError(f'cannot read {filename}: {err}') from None
    return load_checkpoint_bytes(data, filename, map_location)


def load_from_pavi(filename: str, map_location: Any = None) -> dict:
    """``pavi://``: its client unpickles what it downloads, so it cannot be checked."""
    raise CheckpointError(f'{filename}: pavi:// checkpoints cannot be loaded safely; download the file and load '
                          f'the local copy (or set {SWITCH}=0 to use mmengine\'s loaders)')


# prefix (as mmengine registers it) -> our loader
LOADERS: Dict[str, Callable] = {
    '': load_from_local,
    'http://': load_from_http,
    'https://': load_from_http,
    'open-mmlab://': load_from_openmmlab,
    'openmmlab://': load_from_openmmlab,
    'torchvision://': load_from_torchvision,
    'modelzoo://': load_from_torchvision,
    'mmcls://': load_from_mmcls,
    r'(\S+\:)?s3://': load_from_backend,
    r'(\S+\:)?petrel://': load_from_backend,
    'pavi://': load_from_pavi,
}


def install_checkpoint_loaders() -> bool:
    """Register our loader for every scheme in :data:`LOADERS` (unless ``HRNET_MM_SAFE_LOADING=0``).

    Returns:
        bool: Whether the loaders are installed.
    """
    if os.environ.get(SWITCH, '1').strip().lower() in ('0', 'false', 'no', 'off'):
        return False
    schemes = mm_checkpoint.CheckpointLoader._schemes
    for prefix, loader in LOADERS.items():
        if prefix in schemes and schemes[prefix] not in LOADERS.values():
            _saved.setdefault(prefix, schemes[prefix])
        mm_checkpoint.CheckpointLoader.register_scheme(prefixes=prefix, loader=loader, force=True)
    return True


def uninstall_checkpoint_loaders() -> None:
    """Give mmengine its own loaders back (the ones it had before :func:`install_checkpoint_loaders`)."""
    for prefix, loader in _saved.items():
        mm_checkpoint.CheckpointLoader.register_scheme(prefixes=prefix, loader=loader, force=True)
    _saved.clear()


def checkpoint_loaders_installed() -> bool:
    """Whether mmengine's loaders are ours now."""
    schemes = mm_checkpoint.CheckpointLoader._schemes
    return all(schemes.get(prefix) is loader for prefix, loader in LOADERS.items())


def fetch_checkpoint(source: str, map_location: Any = 'cpu') -> dict:
    """Load a checkpoint from any source mmengine names (path, URL, ``open-mmlab://...``), checked.

    What the ``hrnet-mm`` commands call before they start a run, so that a bad file fails in one line.

    Raises:
        FileNotFoundError: No such local file.
        CheckpointError: See :mod:`hrnet_mm.checkpoint.loading`.
    """
    return mm_checkpoint.CheckpointLoader.load_checkpoint(str(source), map_location=map_location, logger='silent')
