"""Every way mmengine fetches a checkpoint, routed through one checked load.

mmengine picks a loader by the start of the name (``CheckpointLoader``); its own loaders call
``torch.load`` without weights-only loading for URLs (through ``torch.hub``), for
``open-mmlab://``, ``torchvision://`` and ``mmcls://`` names (which resolve to URLs or to files
under mmengine's home) and for storage backends (``s3://``, ``petrel://``). Importing hrnet_mm
registers, through mmengine's own ``CheckpointLoader.register_scheme``, one loader per scheme that
fetches the bytes the same way and hands them to :mod:`hrnet_mm.checkpoint.loading`:

- local files: loaded in place;
- ``http(s)://``: downloaded once into torch.hub's cache, keyed by the whole URL
  (``<hub dir>/checkpoints/<first 16 hex digits of sha256(url)>/<name>``, see :func:`cache_path`),
  by the first process of each node, with urllib and a timeout on every wait for the server
  (``HRNET_MM_DOWNLOAD_TIMEOUT`` seconds, default 60), into a temporary file renamed only when
  complete, with progress lines above 8 MB (:func:`download`); then loaded from there; the sha256
  prefix of an OpenMMLab name is checked on every load, as for local files;
- ``open-mmlab://`` / ``openmmlab://``, ``torchvision://`` / ``modelzoo://``, ``mmcls://``: the
  name is resolved by mmengine's own tables, then fetched as above;
- ``s3://`` / ``petrel://`` (with or without a ``name:`` prefix): read through mmengine's file
  backend, checked in memory;
- ``pavi://``: refused (its client downloads and unpickles by itself).

``HRNET_MM_SAFE_LOADING=0`` in the environment, read when hrnet_mm is imported, leaves mmengine's
loaders as they are; :func:`uninstall_checkpoint_loaders` restores them at run time.
"""
import hashlib
import os
import os.path as osp
import socket
import urllib.error
import urllib.request
from typing import Any, BinaryIO, Callable, Dict, Optional
from urllib.parse import urlparse

import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.runner import checkpoint as mm_checkpoint

from hrnet_mm.errors import one_line

from .integrity import CheckpointError
from .loading import load_checkpoint_bytes, load_local_checkpoint
from .saving import temporary_file

SWITCH = 'HRNET_MM_SAFE_LOADING'
TIMEOUT_VARIABLE = 'HRNET_MM_DOWNLOAD_TIMEOUT'
DEFAULT_TIMEOUT = 60.0
_MAX_TIMEOUT = 86400.0  # a day per wait; far larger values overflow the socket's timeval
_CHUNK = 1 << 20
LARGE_DOWNLOAD = 8 << 20  # bytes; larger downloads report their progress
_saved: Dict[str, Callable] = {}


def _local_rank() -> int:
    return int(os.environ.get('LOCAL_RANK', get_dist_info()[0]))


def download_timeout() -> float:
    """Seconds a download waits for the server at each step (connecting, each read).

    Read from ``HRNET_MM_DOWNLOAD_TIMEOUT`` (default 60).

    Raises:
        CheckpointError: The variable is not a positive number of seconds (up to a day).
    """
    text = os.environ.get(TIMEOUT_VARIABLE, '').strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = float('nan')
    if not 0 < value <= _MAX_TIMEOUT:  # NaN fails this too
        raise CheckpointError(f'{TIMEOUT_VARIABLE}={text!r} is not a download timeout: give a number of seconds '
                              f'above 0 and at most {_MAX_TIMEOUT:g} (default {DEFAULT_TIMEOUT:g})')
    return value


def cache_path(url: str, model_dir: Optional[str] = None) -> str:
    """Where :func:`download` keeps ``url``: ``<model_dir>/<first 16 hex of sha256(url)>/<file name>``.

    Keyed by the whole URL, so two URLs that end in the same file name never share a copy; the file
    name stays last so that the sha256 prefix of a published name is still checked on the copy.

    Args:
        url (str): An ``http://`` or ``https://`` URL whose path ends in a file name.
        model_dir (str, optional): The cache folder. Defaults to ``<torch hub dir>/checkpoints``.

    Raises:
        CheckpointError: The URL's path names no file.
    """
    name = osp.basename(urlparse(url).path)
    if name in ('', '.', '..'):
        raise CheckpointError(f'{url} names no file')
    key = hashlib.sha256(url.encode('utf-8', 'surrogatepass')).hexdigest()[:16]
    return osp.join(model_dir or osp.join(torch.hub.get_dir(), 'checkpoints'), key, name)


def _megabytes(size: int) -> str:
    return f'{size / (1 << 20):.1f} MB'


class _Progress:
    """Log lines for a large download: every 10% of a known size, or at each doubling of an unknown one."""

    def __init__(self, url: str, cached: str, total: Optional[int]):
        self.url, self.cached, self.total = url, cached, total
        self.shown = False
        self.next = LARGE_DOWNLOAD
        if total is not None and total > LARGE_DOWNLOAD:
            self.shown, self.next = True, 0
            print_log(f'downloading {url} ({_megabytes(total)}) to {cached}', logger='current')

    def update(self, done: int) -> None:
        if done < self.next or (self.total is not None and not self.shown):
            return
        if self.total is None:
            if not self.shown:
                print_log(f'downloading {self.url} (size not given) to {self.cached}', logger='current')
                self.shown = True
            print_log(f'downloading {self.url}: {_megabytes(done)} so far', logger='current')
            self.next = 2 * done
            return
        percent = 100 * done // self.total
        if percent >= 10:
            print_log(f'downloading {self.url}: {percent}% of {_megabytes(self.total)}', logger='current')
        step = percent // 10 + 1
        self.next = -(-step * self.total // 10)  # the first size at the next 10%

    def finish(self, done: int) -> None:
        if self.shown and self.total is None:
            print_log(f'downloaded {self.url}: {_megabytes(done)}', logger='current')


def _copy_body(response: Any, out: BinaryIO, url: str, cached: str) -> None:
    total = getattr(response, 'length', None)  # from Content-Length; None when the server does not say
    progress = _Progress(url, cached, total)
    done = 0
    while True:
        chunk = response.read(_CHUNK)
        if not chunk:
            break
        out.write(chunk)
        done += len(chunk)
        progress.update(done)
    # http.client ends a read early without an error when the connection closes mid-body.
    if total is not None and done < total:
        raise CheckpointError(f'cannot download {url}: IncompleteRead: the connection closed after {done} of '
                              f'{total} bytes')
    progress.finish(done)


def _failure(url: str, err: Exception, timeout: float) -> str:
    # urlopen wraps what fails before the response (connecting, reading the headers) in a URLError.
    reason = err.reason if type(err) is urllib.error.URLError else err
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return (f'cannot download {url}: timed out after {timeout:g} s without data from the server '
                f'(set {TIMEOUT_VARIABLE} to wait longer)')
    return f'cannot download {url}: {type(err).__name__}: {one_line(err)}'


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _fetch(url: str, cached: str, timeout: float) -> None:
    folder = osp.dirname(cached)
    request = urllib.request.Request(url, headers={'User-Agent': 'hrnet_mm'})
    try:
        os.makedirs(folder, exist_ok=True)
        # The socket timeout bounds connecting and every single read: a silent server cannot hang us.
        with urllib.request.urlopen(request, timeout=timeout) as response:
            # A unique name per download: concurrent downloads (other nodes on a shared disk) never mix.
            partial = temporary_file(cached)
            try:
                with open(partial, 'wb') as out:
                    _copy_body(response, out, url, cached)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(partial, cached)
            except BaseException:
                # Nothing half-written stays behind, whatever stopped the download (Ctrl-C included).
                _remove_quietly(partial)
                raise
    except CheckpointError:
        raise
    except Exception as err:  # urllib's, http's, ssl's and the disk's errors have no common base
        raise CheckpointError(_failure(url, err, timeout)) from None


def download(url: str, model_dir: Optional[str] = None) -> str:
    """Fetch ``url`` into the checkpoint cache once per node and return the cached path.

    The first process of each node (local rank 0) downloads; the others wait for it when a process
    group is running. The file is written under a unique temporary name
    (``<name>.<host>-<pid>-<random>.partial`` next to it, from ``saving.temporary_file``), flushed
    to disk and renamed, so the cached name only ever holds a complete download. Downloads over 8 MB log their progress.

    Args:
        url (str): An ``http://`` or ``https://`` URL.
        model_dir (str, optional): The cache folder. Defaults to ``<torch hub dir>/checkpoints``.

    Returns:
        str: The cached file, :func:`cache_path` of ``url``.

    Raises:
        CheckpointError: The download failed (``cannot download <url>: ...``; the server sent
            nothing for ``HRNET_MM_DOWNLOAD_TIMEOUT`` seconds, an HTTP error, a connection closed
            early, a full disk), the URL names no file, or the timeout variable is invalid.
        KeyboardInterrupt: Re-raised after the temporary file is removed.
    """
    cached = cache_path(url, model_dir)
    timeout = download_timeout()  # checked on every rank, so a bad value fails everywhere alike
    if _local_rank() == 0 and not osp.isfile(cached):
        _fetch(url, cached, timeout)
    if get_dist_info()[1] > 1:
        torch.distributed.barrier()
    return cached


def load_from_local(filename: str, map_location: Any = None) -> dict:
    """mmengine's local scheme (``''``): a checked load of the file."""
    return load_local_checkpoint(filename, map_location)


def load_from_http(filename: str, map_location: Any = None, model_dir: Optional[str] = None) -> dict:
    """``http(s)://``: downloaded into the cache (:func:`download`), then a checked load of the cached file."""
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
