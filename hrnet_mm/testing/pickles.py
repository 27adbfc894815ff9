"""A tiny protocol-2 pickle assembler and torch-archive packer, for tests that craft hostile checkpoints."""
import io
import struct
import zipfile
from pathlib import Path
from typing import Optional

import torch

# Opcodes, named as in the pickle module.
MARK, STOP, POP = b'(', b'.', b'0'
TUPLE, TUPLE1, TUPLE2, TUPLE3, EMPTY_TUPLE = b't', b'\x85', b'\x86', b'\x87', b')'
EMPTY_LIST, APPEND, EMPTY_DICT, SETITEM, SETITEMS = b']', b'a', b'}', b's', b'u'
REDUCE, BUILD, NEWOBJ, BINPERSID, NONE = b'R', b'b', b'\x81', b'Q', b'N'
NEWTRUE, NEWFALSE = b'\x88', b'\x89'
PROTO2 = b'\x80\x02'


def global_(module: str, name: str) -> bytes:
    """GLOBAL ``module.name``."""
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def text(value: str) -> bytes:
    """BINUNICODE."""
    data = value.encode()
    return b'X' + struct.pack('<I', len(data)) + data


def integer(value: int) -> bytes:
    """BININT for 32-bit values, LONG1 otherwise."""
    if -(1 << 31) <= value < (1 << 31):
        return b'J' + struct.pack('<i', value)
    data = value.to_bytes((value.bit_length() + 8) // 8, 'little', signed=True)
    return b'\x8a' + bytes([len(data)]) + data


def put(n: int) -> bytes:
    return b'q' + bytes([n])


def get(n: int) -> bytes:
    return b'h' + bytes([n])


def tuple_(*items: bytes) -> bytes:
    return MARK + b''.join(items) + TUPLE


def call(module: str, name: str, *args: bytes) -> bytes:
    """``module.name(*args)`` as GLOBAL, argument tuple, REDUCE."""
    return global_(module, name) + tuple_(*args) + REDUCE


def storage(key: str, numel: int, kind: str = 'FloatStorage', location: str = 'cpu') -> bytes:
    """The persistent id torch's zip format writes for a storage."""
    return tuple_(text('storage'), global_('torch', kind), text(key), text(location), integer(numel)) + BINPERSID


def tensor(storage_pickle: bytes, offset: int, size: tuple, stride: tuple) -> bytes:
    """``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())``."""
    return call('torch._utils', '_rebuild_tensor_v2', storage_pickle, integer(offset),
                tuple_(*map(integer, size)), tuple_(*map(integer, stride)), NEWFALSE,
                call('collections', 'OrderedDict'))


def state_dict(**entries: bytes) -> bytes:
    """``{'state_dict': {name: value, ...}}``."""
    items = b''.join(text(k) + v for k, v in entries.items())
    return EMPTY_DICT + text('state_dict') + EMPTY_DICT + MARK + items + SETITEMS + SETITEM


def as_torch_file(pickle_bytes: bytes, path: Path, records: Optional[dict] = None,
                  compression: int = zipfile.ZIP_STORED) -> Path:
    """Wrap raw pickle bytes into torch's zip layout; ``records`` adds ``data/<key>`` storages.

    ``compression`` applies to the added storages (torch.save stores every record uncompressed).
    """
    buffer = io.BytesIO()
    torch.save({}, buffer)
    buffer.seek(0)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as dst:
        prefix = ''
        for info in src.infolist():
            prefix = info.filename.split('/')[0]
            data = pickle_bytes if info.filename.endswith('/data.pkl') else src.read(info)
            dst.writestr(info.filename, data)
        for key, data in (records or {}).items():
            dst.writestr(f'{prefix}/data/{key}', data, compress_type=compression)
    return path
