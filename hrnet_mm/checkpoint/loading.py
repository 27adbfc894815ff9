"""One way to turn checkpoint bytes into a checkpoint: every load returns plain, bounded data.

Every load that hrnet_mm handles (mmengine's loaders for every scheme, see
:mod:`hrnet_mm.checkpoint.sources`; the ``hrnet-mm`` commands) ends here:

1. the sha256 prefix of a published name (:mod:`hrnet_mm.checkpoint.integrity`);
2. the format, told by its first bytes: torch's zip or legacy format
   (:mod:`hrnet_mm.checkpoint.archive`, our own reader, never ``torch.load``) or safetensors
   (:mod:`hrnet_mm.checkpoint.safetensors_file`); each within :mod:`hrnet_mm.checkpoint.bounds`;
3. what comes back is a fresh tree of plain types; it must be a dict holding tensors;
4. config text that mmengine would execute is dropped unless it is plain data
   (:mod:`hrnet_mm.checkpoint.config_text`).

Every failure is a :class:`~hrnet_mm.errors.CheckpointError` naming the file and what is wrong.
"""
import io
import os
from pathlib import Path
from typing import Any, BinaryIO, Union

import torch
from mmengine.logging import print_log

from hrnet_mm.errors import CheckpointError

from .archive import LEGACY_MAGIC, ZIP_MAGIC, LegacyCheckpoint, Placement, ZipCheckpoint, _short
from .bounds import DEFAULT_BOUNDS, Bounds, Budget
from .config_text import drop_unsafe_config_text
from .integrity import check_hash_in_name
from .pickle_reader import Refused
from .safetensors_file import checkpoint_from_safetensors, looks_like_safetensors, read_safetensors

PathLike = Union[str, Path]


def _has_tensor(node: Any, depth: int = 0) -> bool:
    if isinstance(node, torch.Tensor):
        return True
    if isinstance(node, dict) and depth < 3:
        return any(_has_tensor(v, depth + 1) for v in dict.values(node))
    return False


def _check_contents(name: str, checkpoint: Any) -> dict:
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'{name} holds a {type(checkpoint).__name__}, not a checkpoint '
                              '(a dict of tensors, or of state_dict / meta / ...)')
    if not _has_tensor(checkpoint):
        keys = sorted(str(k)[:40] for k in list(dict.keys(checkpoint))[:8])
        raise CheckpointError(f'{name} holds no tensor: not a checkpoint (keys: {keys})')
    return checkpoint


def read_checkpoint(stream: BinaryIO, size: int, name: str, map_location: Any = 'cpu',
                    bounds: Bounds = DEFAULT_BOUNDS) -> dict:
    """Load a checkpoint from a seekable binary stream: see the module doc.

    Args:
        stream: The file, positioned at its start.
        size: Its size in bytes.
        name: Its file name or URL, for messages and the sha256 prefix in the name.
        map_location: As for :func:`torch.load` (a device, a dict of locations, or a function of
            ``(storage, location)``). Default: 'cpu'.
        bounds: The loading bounds. Default: :data:`~hrnet_mm.checkpoint.bounds.DEFAULT_BOUNDS`.

    Returns:
        dict: The checkpoint, a fresh tree of plain types.

    Raises:
        CheckpointError: Damaged, not a checkpoint, outside a bound, or refused.
    """
    head = stream.read(16)
    stream.seek(0)
    if not head:
        raise CheckpointError(f'{name} is empty: not a checkpoint')
    verified = check_hash_in_name(stream, name)
    budget = Budget(name, size, bounds)
    placement = Placement(name, map_location)
    try:
        if head.startswith(ZIP_MAGIC):
            checkpoint = ZipCheckpoint(stream, size, name, budget).load(budget, placement)
        elif head.startswith(LEGACY_MAGIC):
            if not verified:
                print_log(f"{name} is in torch's legacy format, which stores no checksums: it cannot be checked "
                          'for damage (publish it with `hrnet-mm publish` to get a checked copy)',
                          logger='current', level=30)
            checkpoint = LegacyCheckpoint(stream, size, name).load(budget, placement)
        elif looks_like_safetensors(head):
            tensors, metadata = read_safetensors(stream, size, budget)
            checkpoint = checkpoint_from_safetensors(tensors, metadata, budget)
        else:
            raise CheckpointError(f'{name} is not a checkpoint: neither a torch zip archive, a legacy torch file '
                                  'nor a safetensors file')
        return drop_unsafe_config_text(_check_contents(name, checkpoint), name, budget)
    except Refused as err:
        raise CheckpointError(f'{name} was refused: it holds {err}; safe loading builds only tensors, numbers, '
                              'strings, numpy numbers and mmengine log buffers (load only files you trust)') from None
    except CheckpointError:
        raise
    except MemoryError:
        raise CheckpointError(f'{name} asks for more memory than this host has') from None
    except Exception as err:  # noqa: BLE001  (a damaged file can fail inside zipfile, struct or torch)
        raise CheckpointError(f'{name} is damaged or not a checkpoint: {type(err).__name__}: {_short(err)}') from None


def load_checkpoint_bytes(data: bytes, name: str, map_location: Any = 'cpu') -> dict:
    """Load a checkpoint held in memory (fetched from a URL or a storage backend).

    Args:
        data: The file's bytes.
        name: Its file name or URL, for messages and the sha256 prefix in the name.
        map_location: As for :func:`torch.load`. Default: 'cpu'.

    Returns:
        dict: The checkpoint (see :func:`read_checkpoint`).

    Raises:
        CheckpointError: Damaged, not a checkpoint, outside a bound, or refused.
    """
    return read_checkpoint(io.BytesIO(bytes(data)), len(data), name, map_location)


def load_local_checkpoint(filename: PathLike, map_location: Any = 'cpu') -> dict:
    """Load a local checkpoint file (``.pth`` in torch's zip or legacy format, or ``.safetensors``).

    Args:
        filename: Path of the file (``~`` expanded).
        map_location: As for :func:`torch.load`. Default: 'cpu', so that a checkpoint saved on a
            GPU also loads (and is checked) on a host without one.

    Returns:
        dict: The checkpoint (see :func:`read_checkpoint`).

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: Damaged, not a checkpoint, outside a bound, or refused.

    Example:
        >>> import tempfile, torch
        >>> path = tempfile.mkdtemp() + '/w.pth'
        >>> torch.save({'state_dict': {'w': torch.ones(2)}}, path)
        >>> load_local_checkpoint(path)['state_dict']['w'].tolist()
        [1.0, 1.0]
    """
    if not str(filename).strip():
        raise CheckpointError('no checkpoint file named: the path is empty (an empty last_checkpoint file in a work '
                              'dir names none; a save was interrupted: pass the checkpoint to resume from)')
    path = os.path.expanduser(str(filename))
    if os.path.isdir(path):
        raise CheckpointError(f'checkpoint {path} is a directory, not a file')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    with open(path, 'rb') as stream:
        return read_checkpoint(stream, os.fstat(stream.fileno()).st_size, path, map_location)
