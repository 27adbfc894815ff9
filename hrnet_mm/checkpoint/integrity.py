"""Loading checkpoint files safely: integrity checks, clear errors, and published (hashed) names.

torch does not check the CRC-32 that its zip archives store: a flipped byte inside a tensor loads
silently as a different weight. Every local load through mmengine (``load_from``, ``--resume``,
``init_cfg`` Pretrained, the stock test tools, ``hrnet-mm test/export``) goes through
:func:`load_local_checkpoint` once hrnet_mm is imported, which

- checks every archive record against its CRC-32, and the file's sha256 against the prefix that
  an OpenMMLab-style published name carries (``name-<sha256 prefix>.pth``),
- loads with ``weights_only=True`` only (see :mod:`hrnet_mm.checkpoint.safe_globals`),
- turns torch's low-level failures into :class:`CheckpointError` saying that the file is damaged,
  refused, or no checkpoint.
"""
import hashlib
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Optional, Union

import torch

from hrnet_mm.errors import one_line

PathLike = Union[str, Path]
# Published names end in -<hex>.pth; at least one letter, so dates such as -20240101 are not hashes.
_HASH_IN_NAME = re.compile(r'-(?=[0-9]*[a-f])([0-9a-f]{8,64})\.(?:pth|pt|ckpt)$')
_PICKLE_PROTOCOL_2 = b'\x80\x02'  # torch's legacy (pre-zip) format starts with a protocol-2 pickle


class CheckpointError(ValueError):
    """A checkpoint file that is damaged, not a checkpoint, or refused as unsafe."""


def hash_in_name(path: PathLike) -> Optional[str]:
    """The sha256 prefix a published checkpoint name carries (``hrnet_w32-36af842e.pth``), or None."""
    match = _HASH_IN_NAME.search(Path(path).name)
    return match.group(1) if match else None


def sha256_of(path: PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def verify_checkpoint_file(path: PathLike) -> None:
    """Check that a local file is an undamaged checkpoint archive, without unpickling anything.

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: Empty, not a torch checkpoint, truncated, a record failing its CRC-32, or a
            sha256 that disagrees with the prefix in the file name.
    """
    path = Path(os.path.expanduser(str(path)))
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f'{path} is empty: not a checkpoint')
    expected = hash_in_name(path)
    if expected is not None:
        actual = sha256_of(path)
        if not actual.startswith(expected):
            raise CheckpointError(f'{path} is damaged: its sha256 starts with {actual[:len(expected)]}, its name '
                                  f'says {expected} (rename the file if that part of its name is no hash)')
    with open(path, 'rb') as f:
        head = f.read(4)
    if head.startswith(b'PK'):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise CheckpointError(f'{path} is damaged or truncated: {err}') from None
        if bad is not None:
            raise CheckpointError(f'{path} is damaged: archive record {bad!r} fails its CRC-32 check')
    elif not head.startswith(_PICKLE_PROTOCOL_2):
        raise CheckpointError(f'{path} is not a checkpoint: neither a torch zip archive nor a legacy torch file')


def _check_contents(path: PathLike, checkpoint: Any) -> Any:
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'{path} holds a {type(checkpoint).__name__}, not a checkpoint '
                              '(a dict of tensors, or of state_dict / meta / ...)')

    def has_tensor(node: Any, depth: int = 0) -> bool:
        if isinstance(node, torch.Tensor):
            return True
        if isinstance(node, dict) and depth < 3:
            return any(has_tensor(v, depth + 1) for v in node.values())
        return False

    if not has_tensor(checkpoint):
        raise CheckpointError(f'{path} holds no tensor: not a checkpoint (keys: {sorted(map(str, checkpoint))[:8]})')
    return checkpoint


def _unpickler_reason(err: Exception) -> str:
    """The unpickler's own reason inside torch's long weights-only message."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if 'WeightsUnpickler error:' in line:
            rest = line.split('WeightsUnpickler error:', 1)[1].strip()
            return rest or (lines[i + 1] if i + 1 < len(lines) else type(err).__name__)
    return one_line(err)


def load_local_checkpoint(filename: PathLike, map_location: Any = None) -> dict:
    """Verify and load a local checkpoint with ``torch.load(weights_only=True)``.

    Args:
        filename: Path of a ``.pth`` file (``~`` expanded).
        map_location: As for :func:`torch.load`. Default: None.

    Returns:
        dict: The checkpoint.

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: Damaged, not a checkpoint, or holding objects that weights-only loading
            refuses (a file that asks to import or call code).
    """
    path = os.path.expanduser(str(filename))
    verify_checkpoint_file(path)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        reason = _unpickler_reason(err)
        raise CheckpointError(f'{path} was refused: it holds objects that safe (weights-only) loading does not '
                              f'build, so it may run code; load only files you trust ({reason})') from None
    except (RuntimeError, EOFError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(f'{path} is damaged or not a checkpoint: {type(err).__name__}: {one_line(err)}') from None
    return _check_contents(path, checkpoint)


def install_local_loader() -> None:
    """Route mmengine's local checkpoint loading (scheme ``''``) through :func:`load_local_checkpoint`."""
    from mmengine.runner.checkpoint import CheckpointLoader

    def load_from_local(filename: str, map_location: Any = None) -> dict:
        return load_local_checkpoint(filename, map_location)

    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)


def publish_checkpoint(src: PathLike, out: Optional[PathLike] = None, keep_keys=('meta', 'state_dict')) -> Path:
    """Write a release copy of a trained checkpoint, OpenMMLab style: weights and meta only, hashed name.

    Args:
        src: A checkpoint written by an mmengine runner (or any dict with ``state_dict``).
        out: Output path *stem* such as ``work_dirs/hrnet_w32.pth``. Default: next to ``src``.
        keep_keys: Top-level keys to keep; the optimizer and the other resume-only state go.

    Returns:
        Path: ``<out stem>-<sha256 prefix>.pth``; the prefix has 8 hex digits, more if needed to
        hold a letter (so that :func:`hash_in_name` recognizes it).

    Raises:
        CheckpointError: ``src`` is damaged or has no ``state_dict``.
    """
    checkpoint = load_local_checkpoint(src, map_location='cpu')
    if 'state_dict' not in checkpoint:
        raise CheckpointError(f'{src} has no state_dict to publish (keys: {sorted(checkpoint)})')
    released = {k: checkpoint[k] for k in keep_keys if k in checkpoint}
    out = Path(out) if out is not None else Path(src)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + '.publishing.pth')
    torch.save(released, tmp)
    digest = sha256_of(tmp)
    length = 8
    while not any(c in 'abcdef' for c in digest[:length]):
        length += 1
    final = out.with_name(f'{out.stem}-{digest[:length]}.pth')
    os.replace(tmp, final)
    return final
