"""The safetensors format, read and written by our own code: a JSON header, then raw tensor bytes.

No pickle at all, so the recommended format for released weights (``hrnet-mm publish --format
safetensors``, ``hrnet-mm convert ... out.safetensors``). Layout: an 8-byte little-endian header
length, the header (a JSON object: per tensor its ``dtype``, ``shape`` and ``data_offsets`` into the
data that follows; ``__metadata__`` maps strings to strings), then the data. Reading checks every
entry against the bounds of :mod:`hrnet_mm.checkpoint.bounds` before a byte of data is allocated.

A checkpoint's ``meta`` travels as JSON text under the metadata key ``hrnet_mm.meta`` (tuples come
back as lists, numpy values as numbers or lists).
"""
import json
import os
from collections import OrderedDict
from typing import Any, BinaryIO, Dict, Mapping, Optional, Tuple

import numpy as np
import torch

from hrnet_mm.errors import CheckpointError

from .bounds import Budget

META_KEY = 'hrnet_mm.meta'
_DTYPES = {'F64': 'float64', 'F32': 'float32', 'F16': 'float16', 'BF16': 'bfloat16', 'I64': 'int64',
           'I32': 'int32', 'I16': 'int16', 'I8': 'int8', 'U8': 'uint8', 'BOOL': 'bool', 'U16': 'uint16',
           'U32': 'uint32', 'U64': 'uint64', 'C64': 'complex64', 'F8_E4M3': 'float8_e4m3fn',
           'F8_E5M2': 'float8_e5m2'}
DTYPES: Dict[str, torch.dtype] = {k: getattr(torch, v) for k, v in _DTYPES.items() if hasattr(torch, v)}
_NAMES = {dtype: code for code, dtype in DTYPES.items()}
_ALIGN = 8
# Bytes Python's JSON parser may take per byte of text (a dict entry ~100 bytes from ~6 of text).
_JSON_COST = 24


def looks_like_safetensors(head: bytes) -> bool:
    """Whether the first bytes of a file are a safetensors header (a length, then ``{``)."""
    return len(head) >= 9 and head[8:9] == b'{' and int.from_bytes(head[:8], 'little') > 1


def _unique_keys(pairs: Any) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError('a key appears twice in the header')
    return dict(pairs)


def _entry(name: str, entry: Any, data_size: int, budget: Budget) -> Tuple[torch.dtype, Tuple[int, ...], int, int]:
    if type(entry) is not dict or set(entry) != {'dtype', 'shape', 'data_offsets'}:
        raise CheckpointError(f'{budget.name} is damaged: header entry {name!r} is not dtype/shape/data_offsets')
    dtype = DTYPES.get(entry['dtype']) if type(entry['dtype']) is str else None
    shape, offsets = entry['shape'], entry['data_offsets']
    if dtype is None:
        raise CheckpointError(f'{budget.name}: tensor {name!r} has dtype {entry["dtype"]!r}, which is not loaded')
    if type(shape) is not list or len(shape) > budget.bounds.max_dims \
            or not all(type(n) is int and 0 <= n < 1 << 62 for n in shape):
        raise CheckpointError(f'{budget.name} is damaged: tensor {name!r} has a bad shape')
    if type(offsets) is not list or len(offsets) != 2 or not all(type(n) is int for n in offsets) \
            or not 0 <= offsets[0] <= offsets[1] <= data_size:
        raise CheckpointError(f'{budget.name} is damaged: tensor {name!r} has data offsets outside the file')
    numel = int(np.prod(shape, dtype=object)) if shape else 1
    if offsets[1] - offsets[0] != numel * dtype.itemsize:
        raise CheckpointError(f'{budget.name} is damaged: tensor {name!r} of shape {shape} has '
                              f'{offsets[1] - offsets[0]} bytes, not {numel * dtype.itemsize}')
    return dtype, tuple(shape), offsets[0], offsets[1]


def read_safetensors(stream: BinaryIO, size: int, budget: Budget) -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """Tensors and metadata of a safetensors file, checked against ``budget``'s bounds.

    Args:
        stream: The file, positioned at its start.
        size: Its size in bytes.
        budget: The load's ledger (its name is used in messages).

    Returns:
        (tensors in file order, metadata as a dict of strings)

    Raises:
        CheckpointError: Damaged, or outside a bound.
    """
    name = budget.name
    head = stream.read(8)
    length = int.from_bytes(head, 'little') if len(head) == 8 else -1
    if not 1 < length <= size - 8:
        raise CheckpointError(f'{name} is damaged or truncated: its safetensors header length says {length}')
    if length > budget.bounds.max_header:
        raise budget.refuse('safetensors header size', f'a header of {length:,} bytes (at most '
                            f'{budget.bounds.max_header:,})')
    budget.charge(length * _JSON_COST, 'the safetensors header')
    try:
        header = json.loads(stream.read(length).decode('utf-8'), object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError, UnicodeDecodeError) as err:
        raise CheckpointError(f'{name} is damaged: its safetensors header is not valid JSON '
                              f'({type(err).__name__})') from None
    if type(header) is not dict:
        raise CheckpointError(f'{name} is damaged: its safetensors header is not a JSON object')
    metadata = header.pop('__metadata__', None) or {}
    if type(metadata) is not dict or not all(type(k) is str and type(v) is str for k, v in metadata.items()):
        raise CheckpointError(f'{name} is damaged: its safetensors metadata is not a map of strings')
    if len(header) > budget.bounds.max_items:
        raise budget.refuse('container size', f'{len(header):,} tensors')
    data_start, data_size = 8 + length, size - 8 - length
    entries = {key: _entry(key, entry, data_size, budget) for key, entry in header.items()}
    spans = sorted((begin, end) for _, _, begin, end in entries.values() if end > begin)
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        raise CheckpointError(f'{name} is damaged: two tensors share bytes')
    tensors: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for key, (dtype, shape, begin, end) in entries.items():
        budget.charge(end - begin + 64, f'tensor {key!r}')
        data = torch.empty(end - begin, dtype=torch.uint8)
        stream.seek(data_start + begin)
        if stream.readinto(memoryview(data.numpy())) != end - begin:  # type: ignore[attr-defined,arg-type]
            raise CheckpointError(f'{name} is truncated: tensor {key!r} is incomplete')
        tensor = data.view(dtype).reshape(shape)
        tensors[key] = tensor != 0 if dtype == torch.bool else tensor  # a bool byte is 0 or 1
    return tensors, metadata


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON (lists and dicts), without recursion."""
    deepest, level = 0, [(value, 1)]
    while level:
        node, depth = level.pop()
        if isinstance(node, (list, dict)):
            deepest = max(deepest, depth)
            level.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def checkpoint_from_safetensors(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str],
                                budget: Budget) -> dict:
    """``{'state_dict': tensors, 'meta': ...}``: the meta from :data:`META_KEY`, other metadata as strings."""
    name = budget.name
    meta: Dict[str, Any] = {k: v for k, v in metadata.items() if k != META_KEY}
    if META_KEY in metadata:
        text = metadata[META_KEY]
        budget.charge(len(text) * _JSON_COST, f'the {META_KEY} metadata')
        try:
            stored = json.loads(text)
        except (ValueError, RecursionError):
            raise CheckpointError(f'{name} is damaged: its {META_KEY} metadata is not JSON') from None
        if type(stored) is not dict:
            raise CheckpointError(f'{name} is damaged: its {META_KEY} metadata is not a JSON object')
        if _depth(stored) > budget.bounds.max_depth - 2:  # the meta sits two levels into the checkpoint
            raise budget.refuse('nesting depth', f'its {META_KEY} metadata nests more than '
                                f'{budget.bounds.max_depth - 2} deep')
        meta.update(stored)
    return {'meta': meta, 'state_dict': OrderedDict(tensors)}


def _plain_json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.tolist()
    raise TypeError(f'a {type(value).__name__} has no JSON form')


def meta_as_text(meta: Mapping[str, Any]) -> str:
    """``meta`` as JSON text; entries with no JSON form are left out (named in the result's ``_omitted``)."""
    kept: Dict[str, Any] = {}
    omitted = []
    for key, value in meta.items():
        try:
            kept[str(key)] = json.loads(json.dumps(value, default=_plain_json))
        except (TypeError, ValueError):
            omitted.append(str(key))
    if omitted:
        kept['_omitted'] = omitted
    return json.dumps(kept, sort_keys=True)


def write_safetensors(stream: BinaryIO, tensors: Mapping[str, torch.Tensor],
                      metadata: Optional[Mapping[str, str]] = None) -> None:
    """Write ``tensors`` (any device, any layout; stored dense and contiguous) and string ``metadata``.

    Example:
        >>> import io
        >>> buffer = io.BytesIO()
        >>> write_safetensors(buffer, {'w': torch.arange(3.0)}, {'format': 'pt'})
        >>> tensors, meta = read_safetensors(io.BytesIO(buffer.getvalue()), len(buffer.getvalue()),
        ...                                  Budget('w', len(buffer.getvalue())))
        >>> tensors['w'].tolist(), meta
        ([0.0, 1.0, 2.0], {'format': 'pt'})
    """
    header: Dict[str, Any] = {}
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    flat = {}
    offset = 0
    for key, tensor in tensors.items():
        if type(key) is not str:
            raise CheckpointError(f'safetensors keys are strings; got a {type(key).__name__} key')
        if tensor.dtype not in _NAMES:
            raise CheckpointError(f'tensor {key!r} has dtype {tensor.dtype}, which safetensors files here do not hold')
        data = tensor.detach().to('cpu').contiguous().reshape(-1).view(torch.uint8)
        flat[key] = data
        header[key] = {'dtype': _NAMES[tensor.dtype], 'shape': list(tensor.shape),
                       'data_offsets': [offset, offset + data.numel()]}
        offset += data.numel()
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % _ALIGN)
    stream.write(len(text).to_bytes(8, 'little'))
    stream.write(text)
    for data in flat.values():
        stream.write(memoryview(data.numpy()))  # type: ignore[arg-type]


def save_safetensors(path: 'os.PathLike[str] | str', tensors: Mapping[str, torch.Tensor],
                     metadata: Optional[Mapping[str, str]] = None) -> None:
    """:func:`write_safetensors` to ``path`` (the caller picks a temporary name and renames)."""
    with open(path, 'wb') as f:
        write_safetensors(f, tensors, metadata)
