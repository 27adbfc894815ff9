"""Is this file what its name says? The sha256 prefix of published names, checked before any parsing.

OpenMMLab-style published names end in ``-<sha256 prefix>.pth`` (:func:`hash_in_name`); a file whose
sha256 disagrees is damaged (or not the file that was published). The record-level checks of the
zip format (CRC-32s, stored records) happen as the archive is read (:mod:`hrnet_mm.checkpoint.archive`);
:func:`verify_checkpoint` runs all of them without building anything.
"""
import hashlib
import io
import os
import re
from pathlib import Path
from typing import BinaryIO, Optional, Union

from hrnet_mm.errors import CheckpointError

PathLike = Union[str, Path]
# Published names end in -<hex>.pth; at least one letter, so dates such as -20240101 are not hashes.
_HASH_IN_NAME = re.compile(r'-(?=[0-9]*[a-f])([0-9a-f]{8,64})\.(?:pth|pt|ckpt|safetensors)$')

__all__ = ['CheckpointError', 'check_hash_in_name', 'hash_in_name', 'sha256_of', 'verify_checkpoint']


def hash_in_name(path: PathLike) -> Optional[str]:
    """The sha256 prefix a published checkpoint name carries (``hrnet_w32-36af842e.pth``), or None.

    Example:
        >>> hash_in_name('hrnet_w32-36af842e.pth'), hash_in_name('epoch-20240101.pth')
        ('36af842e', None)
    """
    match = _HASH_IN_NAME.search(Path(str(path)).name)
    return match.group(1) if match else None


def _sha256(stream: BinaryIO, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(chunk), b''):
        digest.update(block)
    return digest.hexdigest()


def sha256_of(path: PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    with open(path, 'rb') as f:
        return _sha256(f)


def check_hash_in_name(stream: BinaryIO, name: str) -> bool:
    """Check ``stream`` against the sha256 prefix in ``name``; True when there was one (and it matched).

    The stream is left at its start.

    Raises:
        CheckpointError: The sha256 disagrees with the name.
    """
    expected = hash_in_name(name)
    if expected is None:
        return False
    stream.seek(0)
    actual = _sha256(stream)
    stream.seek(0)
    if not actual.startswith(expected):
        raise CheckpointError(f'{name} is damaged: its sha256 starts with {actual[:len(expected)]}, its '
                              f'name says {expected} (rename the file if that part of its name is no hash)')
    return True


def verify_checkpoint(source: Union[PathLike, bytes], name: Optional[str] = None) -> None:
    """Check a file (or its bytes) for damage without building anything from it.

    The sha256 prefix in the name; for a zip checkpoint, its layout and every record's CRC-32.

    Args:
        source: A local path, or the bytes of a checkpoint fetched from elsewhere.
        name: The file name or URL, for messages and the sha256 prefix. Default: ``source``.

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: Damaged, truncated, a sha256 that disagrees with the name, or not a checkpoint.
    """
    from .archive import ZIP_MAGIC, ZipCheckpoint
    from .bounds import Budget
    if isinstance(source, (bytes, bytearray)):
        stream: BinaryIO = io.BytesIO(source)
        name = name or '<bytes>'
        size = len(source)
    else:
        path = Path(os.path.expanduser(str(source)))
        name = name or str(path)
        if not path.is_file():
            raise FileNotFoundError(f'checkpoint {path} does not exist')
        stream = open(path, 'rb')
        size = path.stat().st_size
    with stream:
        if not stream.read(4):
            raise CheckpointError(f'{name} is empty: not a checkpoint')
        stream.seek(0)
        check_hash_in_name(stream, name)
        if stream.read(4) == ZIP_MAGIC:
            stream.seek(0)
            ZipCheckpoint(stream, size, name, Budget(name, size)).check_the_rest()
