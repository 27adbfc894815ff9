"""One way to turn checkpoint bytes into a checkpoint: verify, unpickle data only, check, clean.

Every load that hrnet_mm handles (mmengine's loaders for every scheme, see
:mod:`hrnet_mm.checkpoint.sources`; the ``hrnet-mm`` commands) ends here:

1. :func:`~hrnet_mm.checkpoint.integrity.verify_checkpoint` on the bytes (CRC-32s, sha256 prefix),
2. ``torch.load`` with :mod:`hrnet_mm.checkpoint.unpickler` as its pickle module, which builds
   tensors and plain data and refuses everything else,
3. the result must be a dict holding tensors,
4. config text that mmengine would execute is dropped unless it is plain data
   (:mod:`hrnet_mm.checkpoint.config_text`).

Every failure is a :class:`CheckpointError` naming the file and what is wrong.
"""
import io
import os
import pickle
from pathlib import Path
from typing import Any, BinaryIO, Union

import torch

from hrnet_mm.errors import one_line

from . import unpickler
from .config_text import drop_unsafe_config_text
from .integrity import CheckpointError, verify_checkpoint

PathLike = Union[str, Path]


def _check_contents(name: str, checkpoint: Any) -> dict:
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'{name} holds a {type(checkpoint).__name__}, not a checkpoint '
                              '(a dict of tensors, or of state_dict / meta / ...)')

    def has_tensor(node: Any, depth: int = 0) -> bool:
        if isinstance(node, torch.Tensor):
            return True
        if isinstance(node, dict) and depth < 3:
            return any(has_tensor(v, depth + 1) for v in node.values())
        return False

    if not has_tensor(checkpoint):
        raise CheckpointError(f'{name} holds no tensor: not a checkpoint (keys: {sorted(map(str, checkpoint))[:8]})')
    return checkpoint


def _unpickle(stream: BinaryIO, name: str, map_location: Any) -> Any:
    # weights_only=False hands unpickling to our module, which is stricter than torch's own
    # (unpickler.py); integrity.py has already refused TorchScript archives. Where the user forces
    # torch's own weights-only loading, torch would refuse any pickle module: use torch's.
    forced = os.getenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', '0').lower() in ('1', 'y', 'yes', 'true')
    how = dict(weights_only=True) if forced else dict(pickle_module=unpickler, weights_only=False)
    try:
        return torch.load(stream, map_location=map_location, mmap=False, **how)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f'{name} was refused: it holds objects that safe loading does not build, so it '
                              f'may run code; load only files you trust ({one_line(err)})') from None
    except MemoryError:
        raise CheckpointError(f'{name} is damaged: it asks for more memory than this host has') from None
    except RuntimeError as err:
        if 'CUDA' in str(err) and 'deserialize' in str(err):
            raise CheckpointError(f"{name} holds CUDA tensors and this host has no CUDA: load it with "
                                  "map_location='cpu'") from None
        raise CheckpointError(f'{name} is damaged or not a checkpoint: RuntimeError: {one_line(err)}') from None
    except Exception as err:  # noqa: BLE001  (a damaged file can fail anywhere inside torch or pickle)
        raise CheckpointError(f'{name} is damaged or not a checkpoint: {type(err).__name__}: {one_line(err)}') from None


def load_checkpoint_bytes(data: bytes, name: str, map_location: Any = 'cpu') -> dict:
    """Verify and load a checkpoint held in memory (fetched from a URL or a storage backend).

    Args:
        data: The file's bytes.
        name: Its file name or URL, for messages and the sha256 prefix in the name.
        map_location: As for :func:`torch.load`. Default: 'cpu'.

    Returns:
        dict: The checkpoint.

    Raises:
        CheckpointError: Damaged, not a checkpoint, or refused (see the module doc).
    """
    verify_checkpoint(data, name)
    checkpoint = _check_contents(name, _unpickle(io.BytesIO(data), name, map_location))
    return drop_unsafe_config_text(checkpoint, name)


def load_local_checkpoint(filename: PathLike, map_location: Any = 'cpu') -> dict:
    """Verify and load a local checkpoint file.

    Args:
        filename: Path of a ``.pth`` file (``~`` expanded).
        map_location: As for :func:`torch.load`. Default: 'cpu', so that a checkpoint saved on a
            GPU also loads (and is checked) on a host without one.

    Returns:
        dict: The checkpoint.

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: Damaged, not a checkpoint, or refused (see the module doc).

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
    verify_checkpoint(path)
    with open(path, 'rb') as stream:
        checkpoint = _check_contents(path, _unpickle(stream, path, map_location))
    return drop_unsafe_config_text(checkpoint, path)
