"""Is this file an undamaged checkpoint? Checked on the bytes, before anything is unpickled.

torch does not check the CRC-32 that its zip archives store: a flipped byte inside a tensor loads
silently as a different weight. :func:`verify_checkpoint` checks every archive record against its
CRC-32 and the file's sha256 against the prefix an OpenMMLab-style published name carries
(``name-<sha256 prefix>.pth``), and refuses what ``torch.load`` would not treat as plain data
(TorchScript archives, which it hands to ``torch.jit.load``).

torch's legacy (pre-1.6, non-zip) format stores no checksums. Such a file loads (the official MSRA
weights are legacy files) when its name carries a sha256 prefix that matches; without one it loads
with a warning that it could not be verified.
"""
import hashlib
import io
import os
import re
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Optional, Union

import torch
from mmengine.logging import print_log

from hrnet_mm.errors import one_line

PathLike = Union[str, Path]
# Published names end in -<hex>.pth; at least one letter, so dates such as -20240101 are not hashes.
_HASH_IN_NAME = re.compile(r'-(?=[0-9]*[a-f])([0-9a-f]{8,64})\.(?:pth|pt|ckpt)$')
_ZIP_MAGIC = b'PK\x03\x04'
_LEGACY_MAGIC = b'\x80\x02'  # torch's legacy format starts with a protocol-2 pickle


class CheckpointError(ValueError):
    """A checkpoint that is damaged, not a checkpoint, or refused as unsafe; the message names the file."""


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


def _check_archive(stream: BinaryIO, name: str) -> None:
    """Each record, read the way ``torch.load`` reads it, against the CRC-32 the archive stores for it.

    zipfile reads the central directory; the bytes come from torch's own archive reader, because
    the two disagree on some damaged headers (a record marked as a directory reads as garbage in
    torch and as the right bytes in zipfile).
    """
    try:
        with zipfile.ZipFile(stream) as archive:
            stored = {info.filename: info for info in archive.infolist()}
        if not any(n.split('/')[-1] == 'data.pkl' for n in stored):
            raise CheckpointError(f'{name} is a zip archive but not a torch checkpoint (no data.pkl record)')
        stream.seek(0)
        reader = torch._C.PyTorchFileReader(stream)
        records = reader.get_all_records()
        prefix = next(iter(stored)).split('/')[0] + '/' if stored else ''
        for record in records:
            info = stored.get(prefix + record)
            data = reader.get_record(record)
            if info is None or len(data) != info.file_size or zlib.crc32(data) != info.CRC:
                raise CheckpointError(f'{name} is damaged: archive record {prefix + record!r} fails its CRC-32 check')
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001  (damaged headers fail in zipfile or torch in many ways)
        raise CheckpointError(f'{name} is damaged or truncated: {type(err).__name__}: {one_line(err)}') from None
    if 'constants.pkl' in records:
        raise CheckpointError(f'{name} is a TorchScript archive, not a checkpoint (load it with torch.jit.load '
                              'if you trust it)')
    if 'data.pkl' not in records:
        raise CheckpointError(f'{name} is damaged: torch finds no data.pkl record in it')


def verify_checkpoint(source: Union[PathLike, bytes], name: Optional[str] = None) -> None:
    """Check that a file (or its bytes) is an undamaged checkpoint, without unpickling anything.

    Args:
        source: A local path, or the bytes of a checkpoint fetched from elsewhere.
        name: The file name or URL, for messages and the sha256 prefix. Default: ``source``.

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: Empty, not a torch checkpoint, truncated, a record failing its CRC-32, a
            sha256 that disagrees with the prefix in the name, or a TorchScript archive.
    """
    if isinstance(source, (bytes, bytearray)):
        stream: BinaryIO = io.BytesIO(source)
        name = name or '<bytes>'
    else:
        path = Path(os.path.expanduser(str(source)))
        name = name or str(path)
        if not path.is_file():
            raise FileNotFoundError(f'checkpoint {path} does not exist')
        stream = open(path, 'rb')
    with stream:
        head = stream.read(4)
        if not head:
            raise CheckpointError(f'{name} is empty: not a checkpoint')
        stream.seek(0)
        expected = hash_in_name(name)
        if expected is not None:
            actual = _sha256(stream)
            if not actual.startswith(expected):
                raise CheckpointError(f'{name} is damaged: its sha256 starts with {actual[:len(expected)]}, its '
                                      f'name says {expected} (rename the file if that part of its name is no hash)')
            stream.seek(0)
        if head == _ZIP_MAGIC:
            _check_archive(stream, name)
        elif head.startswith(_LEGACY_MAGIC):
            if expected is None:
                print_log(f'{name} is in torch\'s legacy format, which stores no checksums: it cannot be checked '
                          'for damage (publish it with `hrnet-mm publish` to get a checked copy)',
                          logger='current', level=30)
        else:
            raise CheckpointError(f'{name} is not a checkpoint: neither a torch zip archive nor a legacy torch file')
