"""Fuzzing the checkpoint loader: whatever bytes a file holds, a load ends in a plain tree or a CheckpointError.

``python -m hrnet_mm.testing.checkpoint_fuzz --inputs N --seed S [--jobs J] [--report FILE]`` (and
``make fuzz``) makes ``N`` files out of genuine checkpoints, mutated at every level a loader reads:
the pickle's opcodes and their arguments, values crafted inside it (deep nesting, memo cycles, odd
keys, huge declared lengths, tensors with bad views, calls of odd names), torch's zip and legacy
layouts, safetensors headers, and config text. Each file goes to every loading entry point, in
worker processes so that a crash or a hang ends only a worker:

- :func:`~hrnet_mm.checkpoint.load_local_checkpoint`, :func:`~hrnet_mm.checkpoint.load_checkpoint_bytes`,
  mmengine's ``CheckpointLoader.load_checkpoint`` (routed to the loader by :func:`hrnet_mm.activate`) and
  :func:`~hrnet_mm.checkpoint.verify_checkpoint`;
- an outcome is either a loaded tree, which :func:`canonical_problem` (written apart from the loader,
  the oracle) must accept, or a :class:`~hrnet_mm.errors.CheckpointError`. Anything else is a
  failure: another exception, a crash, a timeout, memory growth above ``4 x size + 64 MiB``, a name
  from the file called or imported (:func:`canary`), or entry points that disagree.

Input ``i`` of seed ``S`` depends on nothing else, so ``--only i`` makes it again. Failing inputs are
saved next to the report (``<report>-failures/``, or ``work_dirs/checkpoint_fuzz/failures``) and
``--replay FILE`` loads one in this process, with full tracebacks.
"""
import argparse
import collections
import ctypes
import faulthandler
import io
import json
import os
import pickle
import pickletools
import random
import re
import resource
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

MODULE = 'hrnet_mm.testing.checkpoint_fuzz'
MiB = 1 << 20
ENTRY_POINTS = ('load_local_checkpoint', 'load_checkpoint_bytes', 'mmengine', 'verify_checkpoint')
LOADS = ENTRY_POINTS[:3]
OUTCOMES = ('loaded', 'refused', 'bound', 'damaged', 'not a checkpoint', 'failure')
MEMORY_FACTOR, MEMORY_SLACK = 4, 64 * MiB
SECONDS_PER_MIB = 4.0  # added to an input's timeout per MiB: three loads of a big pickle on a busy host
CANARY_VARIABLE = 'HRNET_MM_FUZZ_CANARY'
DEFAULT_FAILURES = Path('work_dirs') / 'checkpoint_fuzz' / 'failures'


# ------------------------------------------------------------------------------------ the oracle
MAX_DEPTH = 32
MAX_INT_KEY = 1 << 31
NUMERIC_KINDS = frozenset('biufc')
_SCALARS = frozenset({str, bytes, int, float, bool})
_HISTORY_KEYS = frozenset({'_log_history', '_count_history', 'max_length'})


def canonical_problem(tree: Any, max_depth: int = MAX_DEPTH) -> Optional[str]:
    """Why ``tree`` is not a canonical checkpoint tree, or None when it is.

    Canonical: built only of ``dict``, ``OrderedDict`` (no attribute but a canonical ``_metadata``),
    ``Counter``, ``list``, ``tuple``, ``str``, ``bytes``, ``int``, ``float``, ``bool``, ``None``;
    tensors of exact type ``torch.Tensor``, strided, on the CPU, without attributes, hooks, grad,
    conjugate or negative bits, every element inside the storage; numpy arrays (exact ``ndarray``)
    and scalars of numeric kinds; ``HistoryBuffer`` holding only its histories (numeric, 1-d) and
    ``max_length``. Dict keys are strings or ints in ``[-2**31, 2**31)``; nothing deeper than
    ``max_depth`` (the root is at depth 0). Written apart from the loader on purpose: it checks it.

    Args:
        tree: A loaded checkpoint.
        max_depth: Deepest nesting allowed.

    Returns:
        ``'<where>: <what>'`` for the first problem found, or None.

    Example:
        >>> canonical_problem({'w': torch.ones(2), 'meta': [1, 'a', None]}) is None
        True
        >>> canonical_problem({'s': {1, 2}})
        "root['s']: a builtins.set"
    """
    found = _node_problem(tree, 0, max_depth)
    if found is None:
        return None
    path, what = found
    return 'root' + ''.join(reversed(path)) + ': ' + what


def _short_repr(value: Any) -> str:
    text = repr(value) if type(value) in (str, int) and (type(value) is str or abs(value) < 1 << 64) \
        else type(value).__name__
    return text if len(text) <= 60 else text[:57] + '...'


def _node_problem(node: Any, depth: int, max_depth: int) -> Optional[Tuple[List[str], str]]:
    if depth > max_depth:
        return [], f'nested deeper than {max_depth}'
    kind = type(node)
    if node is None or kind in _SCALARS:
        return None
    if kind in (dict, collections.OrderedDict, collections.Counter):
        return _mapping_problem(node, depth, max_depth)
    if kind in (list, tuple):
        for i, value in enumerate(node):
            found = _node_problem(value, depth + 1, max_depth)
            if found:
                found[0].append(f'[{i}]')
                return found
        return None
    if kind is torch.Tensor:
        what = _tensor_problem(node)
        return ([], what) if what else None
    if isinstance(node, torch.Tensor):
        return [], f'a tensor of subclass {kind.__module__}.{kind.__qualname__}'
    if kind is np.ndarray:
        what = _array_problem(node)
        return ([], what) if what else None
    if isinstance(node, np.generic):
        return None if node.dtype.kind in NUMERIC_KINDS else ([], f'a numpy scalar of dtype {node.dtype}')
    if kind is HistoryBuffer:
        what = _history_problem(node)
        return ([], what) if what else None
    return [], f'a {kind.__module__}.{kind.__qualname__}'


def _mapping_problem(node: dict, depth: int, max_depth: int) -> Optional[Tuple[List[str], str]]:
    attributes = vars(node) if type(node) is not dict else {}
    allowed = {'_metadata'} if type(node) is collections.OrderedDict else set()
    if set(attributes) - allowed:
        return [], f'a {type(node).__name__} with attributes {sorted(attributes)[:5]}'
    for key, value in dict.items(node):
        if not (type(key) is str or (type(key) is int and -MAX_INT_KEY <= key < MAX_INT_KEY)):
            return [], f'a dict key {_short_repr(key)} of type {type(key).__name__}'
        found = _node_problem(value, depth + 1, max_depth)
        if found:
            found[0].append(f'[{_short_repr(key)}]')
            return found
    if '_metadata' in attributes:
        found = _node_problem(attributes['_metadata'], depth + 1, max_depth)
        if found:
            found[0].append('._metadata')
            return found
    return None


def _tensor_problem(t: torch.Tensor) -> Optional[str]:
    if t.layout is not torch.strided:
        return f'a tensor of layout {t.layout}'
    if t.device.type != 'cpu':
        return f'a tensor on {t.device}'
    if t.requires_grad or t.grad is not None or getattr(t, '_backward_hooks', None):
        return 'a tensor that requires grad, holds a grad or has hooks'
    if t.is_quantized or t.is_conj() or t.is_neg():
        return 'a quantized tensor or one with the conjugate or negative bit'
    if t.__dict__:
        return f'a tensor with attributes {sorted(t.__dict__)[:5]}'
    size, stride, offset = tuple(t.shape), t.stride(), t.storage_offset()
    if min(size + stride + (offset,), default=0) < 0:
        return f'a tensor with a negative size, stride or offset ({size}, {stride}, {offset})'
    if t.numel():
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        capacity = t.untyped_storage().nbytes() // t.element_size()
        if last >= capacity:
            return (f'a tensor of size {size}, stride {stride}, offset {offset} reaching element {last} of a '
                    f'storage of {capacity}')
    return None


def _array_problem(a: np.ndarray) -> Optional[str]:
    dtype = a.dtype
    if dtype.kind not in NUMERIC_KINDS or dtype.hasobject or dtype.names is not None or dtype.subdtype is not None:
        return f'a numpy array of dtype {dtype}'
    return None


def _history_problem(buffer: HistoryBuffer) -> Optional[str]:
    state = vars(buffer)
    if set(state) - _HISTORY_KEYS:
        return f'a HistoryBuffer with attributes {sorted(set(state) - _HISTORY_KEYS)[:5]}'
    for key in ('_log_history', '_count_history'):
        value = state.get(key)
        if type(value) is not np.ndarray or value.ndim != 1 or _array_problem(value):
            return f'a HistoryBuffer whose {key} is not a numeric 1-d array'
    length = state.get('max_length')
    if type(length) is not int:
        return f'a HistoryBuffer whose max_length is a {type(length).__name__}'
    return None


def _touch(node: Any, depth: int = 0) -> None:
    """Read every tensor and array of a canonical tree (a view past its storage would fault here)."""
    if depth > MAX_DEPTH:
        return
    kind = type(node)
    if kind in (dict, collections.OrderedDict, collections.Counter):
        for value in dict.values(node):
            _touch(value, depth + 1)
    elif kind in (list, tuple):
        for value in node:
            _touch(value, depth + 1)
    elif kind is torch.Tensor:
        node.clone()
    elif kind is np.ndarray:
        node.copy()


# ------------------------------------------------------------------------- canary (what must not run)
def canary(*args: Any, **kwargs: Any) -> None:
    """Stands for any name a fuzzed pickle gives: if a load ever calls it, the worker reports a failure."""
    os.environ[CANARY_VARIABLE] = 'called'


class Canary:
    """A class a fuzzed pickle may name: building it or setting its state is a failure (see :func:`canary`)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> 'Canary':
        canary()
        return super().__new__(cls)

    def __setstate__(self, state: Any) -> None:
        canary()


# ----------------------------------------------------------------------------- pickle assembly
Op = Tuple[str, Any]
RAW = 'raw'  # an op of raw bytes, written as they are
_OPCODES = {op.code: op for op in pickletools.opcodes}
_PUTS = frozenset('qr\x94p')
_GETS = frozenset('hjg')
# Ops that push exactly one value and touch nothing else: where a crafted value can go instead.
_LEAVES = frozenset('N\x88\x89KMJ\x8a\x8bGX\x8c\x8dBC\x8e]})UThj')


def _mask(value: Any, bits: int, signed: bool = False) -> int:
    value = int(value) & ((1 << bits) - 1)
    return value - (1 << bits) if signed and value >= 1 << (bits - 1) else value


def _text(value: Any, encoding: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value).encode(encoding, 'surrogatepass' if encoding == 'utf-8' else 'replace')


def _sized(fmt: str, data: bytes) -> bytes:
    return struct.pack(fmt, len(data)) + data


def _short(data: bytes) -> bytes:
    return bytes([min(len(data), 255)]) + data[:255]


def _global_arg(value: Any) -> bytes:
    parts = (str(value).split(' ', 1) + [''])[:2]
    return ('\n'.join(parts) + '\n').encode('utf-8', 'surrogatepass')


def _decimal(value: Any) -> bytes:
    if type(value) is bool:
        return b'01\n' if value else b'00\n'
    return str(int(value)).encode() + b'\n'


_ARGUMENTS: Dict[str, Callable[[Any], bytes]] = {
    'uint1': lambda a: struct.pack('<B', _mask(a, 8)),
    'uint2': lambda a: struct.pack('<H', _mask(a, 16)),
    'int4': lambda a: struct.pack('<i', _mask(a, 32, True)),
    'uint4': lambda a: struct.pack('<I', _mask(a, 32)),
    'uint8': lambda a: struct.pack('<Q', _mask(a, 64)),
    'long1': lambda a: _short(pickle.encode_long(int(a))),
    'long4': lambda a: _sized('<i', pickle.encode_long(int(a))),
    'string1': lambda a: _short(_text(a, 'latin-1')),
    'string4': lambda a: _sized('<i', _text(a, 'latin-1')),
    'bytes1': lambda a: _short(_text(a, 'latin-1')),
    'bytes4': lambda a: _sized('<I', _text(a, 'latin-1')),
    'bytes8': lambda a: _sized('<Q', _text(a, 'latin-1')),
    'bytearray8': lambda a: _sized('<Q', _text(a, 'latin-1')),
    'unicodestring1': lambda a: _short(_text(a, 'utf-8')),
    'unicodestring4': lambda a: _sized('<I', _text(a, 'utf-8')),
    'unicodestring8': lambda a: _sized('<Q', _text(a, 'utf-8')),
    'stringnl_noescape_pair': _global_arg,
    'stringnl_noescape': lambda a: _text(a, 'utf-8') + b'\n',
    'stringnl': lambda a: repr(str(a)).encode('utf-8', 'surrogatepass') + b'\n',
    'unicodestringnl': lambda a: str(a).encode('raw-unicode-escape') + b'\n',
    'decimalnl_short': _decimal,
    'decimalnl_long': lambda a: str(int(a)).encode() + b'L\n',
    'floatnl': lambda a: repr(float(a)).encode() + b'\n',
    'float8': lambda a: struct.pack('>d', float(a)),
}


def disassemble(data: bytes) -> List[Op]:
    """A pickle as a list of ``(opcode, argument)``, up to its STOP (see :func:`assemble`)."""
    return [(op.code, arg) for op, arg, _ in pickletools.genops(data)]


def assemble(ops: Sequence[Op]) -> bytes:
    """The bytes of ``(opcode, argument)`` ops: each argument encoded as its opcode says.

    An argument that does not fit its opcode is cut to fit (a length or an int masked), and an op
    named :data:`RAW` is written as its bytes, which is how declared lengths can lie.

    Example:
        >>> import pickle
        >>> data = pickle.dumps({'a': [1, 2.5, None]}, protocol=2)
        >>> assemble(disassemble(data)) == data
        True
    """
    out = []
    for code, arg in ops:
        if code == RAW:
            out.append(bytes(arg))
            continue
        spec = _OPCODES[code].arg
        out.append(code.encode('latin-1') + (_ARGUMENTS[spec.name](arg) if spec is not None else b''))
    return b''.join(out)


def _int_ops(n: int) -> List[Op]:
    if 0 <= n < 256:
        return [('K', n)]
    if 0 <= n < 65536:
        return [('M', n)]
    if -(1 << 31) <= n < 1 << 31:
        return [('J', n)]
    return [('\x8a', n)]


def _str_op(text: str) -> List[Op]:
    return [('X', text)]


def _tuple_ops(items: Sequence[List[Op]]) -> List[Op]:
    return [('(', None)] + [op for item in items for op in item] + [('t', None)]


def _call_ops(name: str, args: Sequence[List[Op]]) -> List[Op]:
    return [('c', name)] + _tuple_ops(args) + [('R', None)]


_ORDERED_DICT = _call_ops('collections OrderedDict', [])


def _embedded(obj: Any, base: int) -> List[Op]:
    """``obj`` pickled by Python (protocol 2), as ops pushing one value, memo moved to ``base`` on."""
    ops = []
    for code, arg in disassemble(pickle.dumps(obj, protocol=2)):
        if code in ('\x80', '.'):
            continue
        if code in _PUTS:
            ops.append(('r', base + int(arg)))
        elif code in _GETS:
            ops.append(('j', base + int(arg)))
        else:
            ops.append((code, arg))
    return ops


# ------------------------------------------------------------------------------------------ seeds
@dataclass
class Seed:
    """A genuine file and its parts, for the generators to take apart.

    Attributes:
        name: What it was saved from (and how).
        fmt: 'zip', 'legacy' or 'safetensors'.
        data: The file's bytes.
        records: Zip: ``(name, bytes)`` of each record, in order.
        heads: Legacy: the magic number, protocol and system-info pickles.
        ops: Zip and legacy: the object pickle as ops.
        keys: Legacy: the storage-key list pickle.
        tail: Legacy: the storages (element count, then bytes, each).
        pids: The persistent ids (``MARK ... TUPLE`` op runs) of its storages, with key, type, count.
    """

    name: str
    fmt: str
    data: bytes
    records: List[Tuple[str, bytes]] = field(default_factory=list)
    heads: List[bytes] = field(default_factory=list)
    ops: List[Op] = field(default_factory=list)
    keys: bytes = b''
    tail: bytes = b''
    pids: List[Dict[str, Any]] = field(default_factory=list)


_STORAGE_ITEMSIZE = {'DoubleStorage': 8, 'FloatStorage': 4, 'HalfStorage': 2, 'BFloat16Storage': 2, 'LongStorage': 8,
                     'IntStorage': 4, 'ShortStorage': 2, 'CharStorage': 1, 'ByteStorage': 1, 'BoolStorage': 1,
                     'ComplexDoubleStorage': 16, 'ComplexFloatStorage': 8, 'UntypedStorage': 1}


def seed_checkpoints() -> Dict[str, dict]:
    """Small realistic checkpoints: a state dict, optimizer state, mmengine's message hub and meta, numpy.

    Deterministic: the same objects (and so the same saved bytes) on every call.
    """
    from mmengine.logging import MessageHub
    from torch import nn

    generator = torch.Generator().manual_seed(0)
    layers = collections.OrderedDict(conv=nn.Conv2d(3, 4, 3), bn=nn.BatchNorm2d(4), pool=nn.AdaptiveAvgPool2d(1),
                                     flat=nn.Flatten(), head=nn.Linear(4, 2))
    model = nn.Sequential(layers)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    adam = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for optimizer in (sgd, adam):
        model(torch.randn(2, 3, 8, 8, generator=generator)).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    hub = MessageHub('hrnet_mm_checkpoint_fuzz')  # not registered: no process-wide state
    for step in range(3):
        hub.update_scalar('train/loss', 1.0 / (step + 1))
        hub.update_scalar('train/lr', np.float64(0.1))
    hub.update_info('iter', 12)
    hub.update_info('epoch', 1)
    state = model.state_dict()
    config = ("model = dict(type='EncoderDecoder', backbone=dict(type='HRNet', extra=dict(stage1=dict(\n"
              "    num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(4, ), num_channels=(64, )))))\n"
              "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))\n"
              "train_cfg = dict(type='IterBasedTrainLoop', max_iters=80000, val_interval=8000)\n")
    meta = {'epoch': 1, 'iter': 12, 'seed': 42, 'cfg': config, 'mmengine_version': '0.10.7',
            'time': '20240101_000000', 'experiment_name': 'fuzz', 'hook_msgs': {'best_score': 0.5},
            'dataset_meta': {'classes': ('road', 'sky'), 'palette': [[128, 64, 128], [70, 130, 180]]}}
    base = torch.arange(12, dtype=torch.float32)
    dtypes = collections.OrderedDict(
        f16=torch.randn(3, generator=generator).half(), bf16=torch.randn(3, generator=generator).bfloat16(),
        f64=torch.randn(2, 2, generator=generator).double(), i8=torch.arange(-3, 3, dtype=torch.int8),
        u8=torch.arange(6, dtype=torch.uint8), i16=torch.arange(4, dtype=torch.int16),
        i32=torch.arange(4, dtype=torch.int32), mask=torch.tensor([True, False, True]),
        c64=torch.complex(torch.ones(2), torch.zeros(2)), c128=torch.ones(2, dtype=torch.complex128),
        scalar=torch.tensor(3.5), empty=torch.zeros(0, 3), transposed=base.view(3, 4).t(),
        sliced=base[2:8], strided=base[::3], expanded=torch.ones(1, 4).expand(3, 4), steps=torch.tensor(5))
    parameter = torch.ones(3)
    parameter.tag = 'kept out'  # type: ignore[attr-defined]  # saved through _rebuild_from_type_v2, not loaded
    fortran = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    return {
        'state_dict': {'state_dict': state, 'meta': {'epoch': 3}},
        'runner': {'meta': meta, 'state_dict': state, 'message_hub': hub.state_dict(), 'optimizer': sgd.state_dict(),
                   'param_schedulers': [{'by_epoch': False, 'base_values': [0.1], 'last_step': 12, 'eta_min': 1e-4}]},
        'adamw': {'state_dict': state, 'optimizer': adam.state_dict()},
        'dtypes': {'state_dict': dtypes, 'meta': {'note': 'views share one storage'}},
        'numpy': {'state_dict': {'w': nn.Parameter(torch.ones(2)), 'tagged': parameter},
                  'meta': {'array': np.arange(6, dtype=np.float32).reshape(2, 3), 'fortran': fortran,
                           'big_endian': np.array([1, 2], dtype='>i4'), 'f64': np.float64(1.5), 'i64': np.int64(7),
                           'flag': np.bool_(True), 'complex': np.complex64(1 + 2j), 'f16': np.float16(0.5),
                           'counts': collections.Counter({'road': 3, 'sky': 1}),
                           'nested': {'deep': [[(1, 2.5, None, True, b'raw', -(1 << 70))]]}}},
    }


def _zip_records(data: bytes) -> List[Tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def _split_pickles(data: bytes, count: int) -> Tuple[List[bytes], bytes]:
    """The first ``count`` pickles of ``data`` and what follows them (torch's legacy layout)."""
    stream = io.BytesIO(data)
    pickles = []
    for _ in range(count):
        start = stream.tell()
        for _op in pickletools.genops(stream):
            pass
        pickles.append(data[start:stream.tell()])
    return pickles, data[stream.tell():]


def _memo_values(ops: List[Op]) -> Dict[int, Op]:
    """What each memo entry holds when it is one simple value (a string, a name, an int), as one op."""
    memo: Dict[int, Op] = {}
    count = 0
    for i, (code, arg) in enumerate(ops):
        if code not in _PUTS:
            continue
        index = count if code == '\x94' else int(arg)  # MEMOIZE takes the next index
        count += 1
        previous: Op = ops[i - 1] if i else ('.', None)
        if previous[0] in ('X', '\x8c', 'c', 'K', 'M', 'J', '\x8a'):
            memo[index] = previous
        elif previous[0] == '\x93':  # STACK_GLOBAL of the two strings before it
            strings = [arg for code, arg in ops[max(i - 6, 0):i - 1] if code in ('X', '\x8c')][-2:]
            if len(strings) == 2:
                memo[index] = ('c', ' '.join(strings))
        elif previous[0] in _GETS and int(previous[1]) in memo:
            memo[index] = memo[int(previous[1])]
    return memo


def _persistent_ids(ops: List[Op]) -> List[Dict[str, Any]]:
    """Each storage's persistent id as one op run (``MARK ... TUPLE``), memo uses resolved, with key, type, count."""
    memo = _memo_values(ops)
    found, seen = [], set()
    for i, (code, _) in enumerate(ops):
        if code != 'Q':
            continue
        end = i - 1
        while end > 0 and ops[end][0] in _PUTS:
            end -= 1
        if ops[end][0] != 't':
            continue  # a storage met before: its id is a memo GET
        start = end
        while start > 0 and ops[start][0] != '(':
            start -= 1
        run: List[Op] = []
        for op in ops[start:end + 1]:
            if op[0] in _PUTS:
                continue
            if op[0] in _GETS:
                if int(op[1]) not in memo:
                    break
                op = memo[int(op[1])]
            if op[0] == '\x93' and len(run) >= 2:
                (_, module), (_, name) = run[-2], run[-1]
                run[-2:] = [('c', f'{module} {name}')]
                continue
            run.append(op)
        else:
            strings = [arg for code, arg in run if code in ('X', '\x8c')]
            ints = [arg for code, arg in run if code in ('K', 'M', 'J', '\x8a')]
            kinds = [arg for code, arg in run if code == 'c']
            if len(strings) >= 3 and ints and kinds and strings[1] not in seen:
                seen.add(strings[1])
                found.append({'ops': run, 'kind': kinds[0].split(' ')[-1], 'key': strings[1], 'numel': ints[0]})
    return found


class Corpus:
    """The genuine files every input starts from (built once; the same bytes on every build)."""

    def __init__(self) -> None:
        from hrnet_mm.checkpoint.safetensors_file import META_KEY, meta_as_text, write_safetensors
        self.seeds: List[Seed] = []
        objects = seed_checkpoints()
        for name, obj in objects.items():
            self._add_torch(name, obj)
        self._add_torch('runner-protocol4', objects['runner'], pickle_protocol=4)
        self._add_torch('state_dict-protocol5', objects['state_dict'], pickle_protocol=5)
        for name in ('state_dict', 'dtypes'):
            tensors = {k: v for k, v in objects[name]['state_dict'].items()
                       if v.dtype not in (torch.complex128,)}
            buffer = io.BytesIO()
            write_safetensors(buffer, tensors, {'format': 'pt', META_KEY: meta_as_text(objects['runner']['meta'])})
            self.seeds.append(Seed(f'{name}-safetensors', 'safetensors', buffer.getvalue()))
        self.zips = [s for s in self.seeds if s.fmt == 'zip']
        self.legacies = [s for s in self.seeds if s.fmt == 'legacy']
        self.pickled = self.zips + self.legacies
        self.safetensors = [s for s in self.seeds if s.fmt == 'safetensors']
        self.objects = _embeddable_objects()

    def _add_torch(self, name: str, obj: Any, pickle_protocol: int = 2) -> None:
        buffer = io.BytesIO()
        torch.save(obj, buffer, pickle_protocol=pickle_protocol)
        data = buffer.getvalue()
        records = _zip_records(data)
        ops = disassemble(dict(records)['archive/data.pkl'])
        self.seeds.append(Seed(name, 'zip', data, records=records, ops=ops, pids=_persistent_ids(ops)))
        if pickle_protocol != 2:
            return
        buffer = io.BytesIO()
        torch.save(obj, buffer, _use_new_zipfile_serialization=False)
        data = buffer.getvalue()
        pickles, tail = _split_pickles(data, 5)
        # Legacy storage keys are memory addresses, sorted as text: renamed 0, 1, ... in the order the object
        # pickle meets them, storages reordered to match, so that the seed is the same bytes every time.
        ops = disassemble(pickles[3])
        sizes = {pid['key']: pid['numel'] * _STORAGE_ITEMSIZE[pid['kind']] for pid in _persistent_ids(ops)}
        chunks, at = {}, 0
        for key in pickle.loads(pickles[4]):
            chunks[key] = tail[at:at + 8 + sizes[key]]
            at += 8 + sizes[key]
        names = {key: str(i) for i, key in enumerate(sizes)}
        ops = [(code, names.get(arg, arg) if code in ('X', '\x8c') else arg) for code, arg in ops]
        key_list = pickle.dumps(list(names.values()), protocol=2)
        tail = b''.join(chunks[key] for key in names)
        data = b''.join(pickles[:3]) + assemble(ops) + key_list + tail
        self.seeds.append(Seed(f'{name}-legacy', 'legacy', data, heads=pickles[:3], ops=ops, keys=key_list,
                               tail=tail, pids=_persistent_ids(ops)))


def _embeddable_objects() -> List[Any]:
    """Python objects whose own pickles go inside checkpoints: most are not data the loader builds."""
    from argparse import Namespace
    objects: List[Any] = [
        {1, 2}, frozenset({3}), bytearray(b'ab'), 1 + 2j, slice(1, 2), range(3), collections.deque([1]),
        collections.defaultdict(list, a=[1]), Namespace(lr=0.1), collections.Counter(a=2),
        collections.OrderedDict(a=1), np.array(['a', None], dtype=object), np.zeros(2, dtype=[('a', '<i4')]),
        np.array(['xy']), np.array([1], dtype='datetime64[s]'), np.float16(1.5), np.arange(6.0).reshape(2, 3),
        np.bool_(True), np.array([1, 2], dtype='>i2'), np.longdouble(1), np.zeros((2, 2), dtype='(2,)f4'),
        np.str_('text'), np.dtype('f8'), torch.Size([2, 3]), torch.float32, torch.device('cpu'),
        HistoryBuffer([1.0, 2.0], [1, 1], 10), HistoryBuffer(), Path('x'), max, Canary,
    ]
    tampered = HistoryBuffer([1.0], [1])
    tampered._log_history = np.zeros((1, 1))
    objects.append(tampered)
    with_attribute = collections.OrderedDict(a=1)
    with_attribute.extra = 'x'  # type: ignore[attr-defined]
    objects.append(with_attribute)
    return objects


# ------------------------------------------------------------------------- packing into files
def zip_file(records: Sequence[Tuple[str, bytes]], compression: Optional[Dict[str, int]] = None,
             zip64: bool = False, flags: int = 0) -> bytes:
    """A zip archive of ``records`` in order, stored unless ``compression`` names a method for one."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # duplicate names are written on purpose
        with zipfile.ZipFile(buffer, 'w') as archive:
            for name, data in records:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = (compression or {}).get(name, zipfile.ZIP_STORED)
                info.flag_bits |= flags
                with archive.open(info, 'w', force_zip64=zip64) as out:
                    out.write(data)
    return buffer.getvalue()


def _with_pickle(seed: Seed, pickled: bytes) -> bytes:
    if seed.fmt == 'zip':
        return zip_file([(n, pickled if n.endswith('/data.pkl') else d) for n, d in seed.records])
    return b''.join(seed.heads) + pickled + seed.keys + seed.tail


def _pack(seed: Seed, ops: Sequence[Op]) -> bytes:
    return _with_pickle(seed, assemble(ops))


# ----------------------------------------------------------------------- values a pickle can hold
_INTS = [0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 33, 100, 255, 256, 65535, 65536, (1 << 31) - 1, 1 << 31, -1, -2,
         -(1 << 31), -(1 << 31) - 1, (1 << 32) - 1, 1 << 32, (1 << 62) - 1, 1 << 62, (1 << 63) - 1, 1 << 63,
         (1 << 64) - 1]
_BIG_INTS = [(1 << 61) - 1, 3 * ((1 << 61) - 1), -((1 << 61) - 1), 1 << 64, 1 << 100, -(1 << 100), 10 ** 300]
_FLOATS = [0.0, -0.0, 1.5, float('nan'), float('inf'), -float('inf'), 1e308, 5e-324]
NAMES = [
    'builtins eval', 'builtins getattr', 'builtins setattr', 'builtins print', 'builtins set', 'builtins frozenset',
    'builtins bytearray', 'builtins slice', 'builtins type', 'builtins object', '__builtin__ set', '__builtin__ eval',
    'posix getpid', 'functools partial', 'operator attrgetter', 'argparse Namespace', 'copyreg _reconstructor',
    'copy_reg _reconstructor', 'copyreg __newobj__', 'collections OrderedDict', 'collections Counter',
    'collections defaultdict', 'collections deque', 'torch Size', 'torch FloatStorage', 'torch BoolStorage',
    'torch.cuda FloatStorage', 'torch UntypedStorage', 'torch.storage UntypedStorage', 'torch QInt8Storage',
    'torch float32', 'torch bfloat16', 'torch float8_e5m2', 'torch qint8', 'torch device', 'torch Tensor',
    'torch._tensor Tensor', 'torch.tensor _rebuild_from_type_v2', 'torch.nn.parameter Parameter',
    'torch.nn.parameter Buffer', 'torch._utils _rebuild_tensor', 'torch._utils _rebuild_tensor_v2',
    'torch._utils _rebuild_tensor_v3', 'torch._utils _rebuild_parameter', 'torch._utils _rebuild_parameter_with_state',
    'torch._utils _rebuild_sparse_tensor', 'torch._utils _rebuild_qtensor', 'torch._utils _rebuild_wrapper_subclass',
    'torch._utils _rebuild_meta_tensor_no_storage', 'torch._utils _rebuild_device_tensor_from_numpy',
    'torch._utils _rebuild_nested_tensor', 'torch._tensor _rebuild_from_type_v2', 'torch.nn.modules.conv Conv2d',
    'numpy dtype', 'numpy ndarray', 'numpy.core.multiarray scalar', 'numpy._core.multiarray scalar',
    'numpy.core.multiarray _reconstruct', 'numpy._core.multiarray _reconstruct', 'numpy.core.numeric _frombuffer',
    '_codecs encode', 'mmengine.logging.history_buffer HistoryBuffer',
    'mmengine.logging.history_buffer HistoryBuffer.mean', 'mmengine.logging.history_buffer HistoryBuffer.update',
    'mmengine.config Config', f'{MODULE} canary', f'{MODULE} Canary',
]
_STRINGS = ['storage', 'cpu', 'cuda', 'cuda:0', 'cuda:99999', 'meta', 'mps', 'xla:0', 'cpu:0', '0', '1', '999', '',
            'state_dict', '_metadata', 'version', '_log_history', '_count_history', 'max_length', 'statistics_methods',
            'mean', 'update', '__class__', '__init__', '__globals__', '__reduce__', 'latin1', 'utf-8', 'x' * 300,
            '\ud800', '\u20ac', 'builtins', 'eval', 'torch._utils', '_rebuild_sparse_tensor', '../../etc/passwd']
_BYTES = [b'', b'\x00', b'\xff' * 8, b'little', b'big', b'x' * 300, b'\x80\x02.']


def _random_arg(rng: random.Random, kind: Optional[str]) -> Any:
    if kind is None:
        return None
    if kind == 'uint1':
        return rng.choice([0, 1, 2, 3, 255, rng.randrange(256)])
    if kind in ('uint2', 'int4', 'uint4', 'uint8'):
        return rng.choice(_INTS)
    if kind in ('long1', 'long4', 'decimalnl_short', 'decimalnl_long'):
        return rng.choice(_INTS + _BIG_INTS)
    if kind in ('float8', 'floatnl'):
        return rng.choice(_FLOATS)
    if kind == 'stringnl_noescape_pair':
        return rng.choice(NAMES)
    if kind.startswith(('bytes', 'bytearray')):
        return rng.choice(_BYTES)
    return rng.choice(_STRINGS + NAMES)


def _random_op(rng: random.Random) -> Op:
    op = rng.choice(pickletools.opcodes)
    return op.code, _random_arg(rng, op.arg.name if op.arg else None)


def _tweak(rng: random.Random, code: str, arg: Any) -> Any:
    """Another value for the argument of one op: ints and memo indices moved, names and strings swapped."""
    if code == 'c':
        return rng.choice(NAMES)
    if type(arg) is bool:
        return not arg
    if type(arg) is int:
        return rng.choice([arg + 1, arg - 1, 0, -arg, arg * 2, arg ^ (1 << rng.randrange(64)), rng.choice(_INTS),
                           rng.choice(_BIG_INTS)])
    if type(arg) is float:
        return rng.choice(_FLOATS)
    if type(arg) is str:
        return rng.choice([arg + arg, arg[:-1], arg.upper(), rng.choice(_STRINGS), rng.choice(NAMES)])
    if isinstance(arg, bytes):
        if arg and rng.random() < 0.5:
            i = rng.randrange(len(arg))
            return arg[:i] + bytes([arg[i] ^ (1 << rng.randrange(8))]) + arg[i + 1:]
        return rng.choice([arg[:-1], arg + b'\x00', rng.choice(_BYTES)])
    return arg


def _deep(rng: random.Random, base: int) -> List[Op]:
    n = rng.choice([31, 32, 33, 40, 1000, 50000])
    shape = rng.choice(['list', 'tuple', 'dict', 'marks', 'open_marks', 'ordered_dict'])
    if shape == 'list':
        return [(']', None)] * n + [('a', None)] * (n - 1)
    if shape == 'tuple':
        return [(')', None)] + [('\x85', None)] * n
    if shape == 'dict':
        return [('}', None)] + [('X', 'k'), ('}', None)] * n + [('s', None)] * n
    if shape == 'marks':
        return [('(', None)] * n + [('l', None)] * n
    if shape == 'open_marks':
        return [('(', None)] * n + [('N', None)]
    # OrderedDicts nested through their _metadata, which the loader copies too
    ops = [('N', None)]
    for _ in range(n):
        ops = _ORDERED_DICT + [('}', None)] + _str_op('_metadata') + ops + [('s', None), ('b', None)]
    return ops


def _cycle(rng: random.Random, base: int) -> List[Op]:
    shape = rng.choice(['list', 'dict', 'metadata', 'tuple', 'dag'])
    if shape == 'list':
        return [(']', None), ('r', base), ('j', base), ('a', None)]
    if shape == 'dict':
        return [('}', None), ('r', base)] + _str_op('self') + [('j', base), ('s', None)]
    if shape == 'metadata':
        return _ORDERED_DICT + [('r', base), ('}', None)] + _str_op('_metadata') + [('j', base), ('s', None),
                                                                                     ('b', None)]
    if shape == 'tuple':  # a list inside a tuple, holding the tuple
        return [(']', None), ('r', base), ('\x85', None), ('r', base + 1), ('0', None), ('j', base),
                ('j', base + 1), ('a', None), ('0', None), ('j', base + 1)]
    levels = rng.choice([20, 31, 40, 64])  # each list holds the previous one twice: 2**levels when copied
    ops = [(']', None), ('r', base), ('0', None)]
    for i in range(1, levels):
        ops += [('(', None), ('j', base + i - 1), ('j', base + i - 1), ('l', None), ('r', base + i), ('0', None)]
    return ops + [('j', base + levels - 1)]


def _odd_keys(rng: random.Random, base: int) -> List[Op]:
    n = rng.choice([1, 2, 100, 5000])
    choice = rng.choice(['collide', 'float', 'tuple', 'none', 'bool', 'wide', 'edges', 'bytes', 'many', 'list'])
    keys: List[List[Op]]
    if choice == 'collide':  # ints equal modulo 2**61 - 1 hash alike
        keys = [_int_ops(k * ((1 << 61) - 1)) for k in range(1, n + 1)]
    elif choice == 'float':
        keys = [[('G', float(k))] for k in range(n)] + [[('G', float('nan'))]]
    elif choice == 'tuple':
        keys = [_tuple_ops([_int_ops(k), _int_ops(k)]) for k in range(n)]
    elif choice == 'none':
        keys = [[('N', None)]]
    elif choice == 'bool':
        keys = [[('\x88', None)], [('\x89', None)]]
    elif choice == 'wide':
        keys = [_int_ops(rng.choice([1 << 31, -(1 << 31) - 1, 1 << 62, -(1 << 63)]))]
    elif choice == 'edges':  # inside the bound: loads
        keys = [_int_ops((1 << 31) - 1), _int_ops(-(1 << 31)), _str_op(''), _str_op('\u20ac')]
    elif choice == 'bytes':
        keys = [[('C', b'k')]]
    elif choice == 'many':
        keys = [_int_ops(k) for k in range(rng.choice([1000, 100000]))]
    else:
        keys = [[(']', None)]]
    ops: List[Op] = [('}', None), ('(', None)]
    for key in keys:
        ops += key + [('N', None)]
    return ops + [('u', None)]


def _declared_lengths(rng: random.Random, base: int) -> List[Op]:
    length = rng.choice([1 << 40, 1 << 62, (1 << 64) - 1, 64 * MiB, 64 * MiB + 1, 1 << 31, 1000])
    raw = rng.choice([
        b'\x8d' + struct.pack('<Q', length),                     # BINUNICODE8
        b'\x8e' + struct.pack('<Q', length),                     # BINBYTES8
        b'\x96' + struct.pack('<Q', length),                     # BYTEARRAY8
        b'\x8b' + struct.pack('<i', _mask(length, 32, True)),    # LONG4
        b'\x8b' + struct.pack('<i', -5),
        b'X' + struct.pack('<I', _mask(length, 32)),              # BINUNICODE
        b'B' + struct.pack('<I', _mask(length, 32)),              # BINBYTES
        b'T' + struct.pack('<i', rng.choice([-1, -(1 << 31), _mask(length, 32, True)])),  # BINSTRING
        b'\x95' + struct.pack('<Q', length),                     # FRAME
        b'\x8c\xff', b'C\xff', b'\x8a\xff',
    ])
    return [(RAW, raw + b'abc')]


def _big_values(rng: random.Random, base: int) -> List[Op]:
    n = rng.choice([1000, 100000, 1000000])
    return rng.choice([
        [('\x8b', 1 << (8 * n - 1))],                           # an int of n bytes
        [('X', 'a' * n)], [('B', b'\x00' * n)], [('\x8e', b'\x01' * n)],
        [(RAW, b'X' + struct.pack('<I', 4) + b'\xff\xfe\xfd\xfc')],  # not UTF-8
        [('X', '\ud800')], [('U', 'caf\xe9')], [('T', 'ascii')], [('C', b'')],
        [('\x8c', 'short')], [('\x8d', 'eight')], [('\x8a', -(1 << 2000))],
    ])


def _odd_calls(rng: random.Random, base: int) -> List[Op]:
    history = 'mmengine.logging.history_buffer HistoryBuffer'
    value = _small_value(rng)
    templates = [
        _ORDERED_DICT,
        _call_ops('collections OrderedDict', [_int_ops(1)]),
        _ORDERED_DICT + [('}', None)] + _str_op('_metadata') + value + [('s', None), ('b', None)],
        _ORDERED_DICT + [('}', None)] + _str_op('extra') + value + [('s', None), ('b', None)],
        _ORDERED_DICT + [('}', None), ('N', None), ('\x86', None), ('b', None)],
        _ORDERED_DICT + [('N', None), ('b', None), ('N', None), ('b', None)],
        _call_ops('collections Counter', [[('}', None)] + _str_op('a') + value + [('s', None)]]),
        _call_ops('collections Counter', [[(']', None)]]),
        [('c', 'collections OrderedDict'), (')', None), ('\x81', None)],
        [('c', 'collections Counter'), (')', None), ('\x81', None)],
        [('c', history), (')', None), ('\x81', None), ('}', None), ('b', None)],
        [('c', history), (')', None), ('\x81', None), ('}', None)] + _str_op('max_length') + value
        + [('s', None), ('b', None)],
        [('c', history), ('(', None), ('K', 1), ('t', None), ('\x81', None)],
        [('c', history), (')', None), ('R', None)],
        [(']', None), ('}', None), ('b', None)],
        _str_op('x') + [(')', None), ('R', None)],
        [('c', 'torch Size'), (']', None), ('R', None)],
        _call_ops('torch Size', [_tuple_ops([_int_ops(2), _int_ops(3)])]),
        _call_ops('torch Size', [_tuple_ops([_int_ops(-1)] * 17)]),
        _call_ops('_codecs encode', [_str_op('caf\xe9'), _str_op('latin1')]),
        _call_ops('_codecs encode', [_str_op('\u20ac'), _str_op('latin1')]),
        _call_ops('_codecs encode', [_str_op('x'), _str_op('utf-16')]),
        _call_ops('builtins getattr', [[('c', history)], _str_op(rng.choice(['mean', 'update', '__init__']))]),
        _call_ops('numpy dtype', [_str_op(rng.choice(['f8', 'O', 'U8', 'V4', 'M8', 'g', 'i,i', '(2,)f4', 'f9',
                                                      '<c16', '?', 'S']))] + [[('\x89', None)], [('\x88', None)]]),
        _call_ops(f'{MODULE} canary', []),
        [('c', f'{MODULE} Canary'), (')', None), ('\x81', None), ('}', None), ('b', None)],
        [('c', 'builtins eval')] + _tuple_ops([_str_op('1')]) + [('R', None)],
        _call_ops('torch._utils _rebuild_sparse_tensor', [_int_ops(0)]),
        [('c', 'torch._utils _rebuild_tensor_v2'), (']', None), ('R', None)],
        [(')', None), ('(', None), ('t', None), ('R', None)],
        [('N', None), ('N', None), ('\x81', None)],
        [('N', None), (')', None), ('b', None)],
        [('c', 'numpy.core.multiarray scalar'), ('(', None), ('c', 'numpy dtype'), ('C', b'\x00' * 8), ('t', None),
         ('R', None)],
    ]
    return rng.choice(templates)


def _small_value(rng: random.Random) -> List[Op]:
    return rng.choice([[('N', None)], _int_ops(rng.choice(_INTS)), [('G', rng.choice(_FLOATS))], _str_op('v'),
                       [(']', None)], [('}', None)], [(')', None)], _deep_list_ops(rng.choice([2, 40])),
                       [('c', rng.choice(NAMES))]])


def _deep_list_ops(n: int) -> List[Op]:
    return [(']', None)] * n + [('a', None)] * (n - 1)


def _embedded_value(rng: random.Random, corpus: Corpus, base: int) -> List[Op]:
    ops = _embedded(rng.choice(corpus.objects), base)
    for _ in range(rng.choice([0, 0, 1, 2])):
        with_args = [i for i, (_, arg) in enumerate(ops) if arg is not None]
        if with_args:
            i = rng.choice(with_args)
            ops[i] = (ops[i][0], _tweak(rng, *ops[i]))
    return ops


def _sequence_ops(rng: random.Random, values: Sequence[int]) -> List[Op]:
    items = [_int_ops(v) for v in values]
    style = rng.choice(['tuple'] * 6 + ['list', 'size', 'floats'])
    if style == 'list':
        return [(']', None), ('(', None)] + [op for item in items for op in item] + [('e', None)]
    if style == 'size':
        return _call_ops('torch Size', [_tuple_ops(items)])
    if style == 'floats':
        return _tuple_ops([[('G', float(v))] for v in values])
    return _tuple_ops(items)


def _pid_ops(rng: random.Random, pid: Dict[str, Any]) -> List[Op]:
    ops = list(pid['ops'])
    if rng.random() < 0.25:
        spots = [i for i, (code, arg) in enumerate(ops) if arg is not None or code == 'N']
        i = rng.choice(spots)
        code, arg = ops[i]
        if code == 'N':  # a legacy view: (key, offset, size)
            ops[i:i + 1] = _tuple_ops([_str_op(rng.choice(['v', pid['key']])), _int_ops(rng.choice(_INTS)),
                                       _int_ops(rng.choice([0, 1, pid['numel'], pid['numel'] + 1]))])
        elif code == 'c':
            ops[i] = ('c', rng.choice(['torch BoolStorage', 'torch DoubleStorage', 'torch.cuda FloatStorage',
                                       'torch UntypedStorage', 'torch QInt8Storage', 'torch ByteStorage']))
        else:
            ops[i] = (code, _tweak(rng, code, arg))
    return ops + [('Q', None)]


def _tensor_value(rng: random.Random, pid: Dict[str, Any]) -> List[Op]:
    """A tensor rebuilt over one of the file's storages: a valid view, or offsets, sizes, strides at edges."""
    numel = pid['numel']
    if rng.random() < 0.35:
        offset = rng.randrange(max(numel, 1))
        rest = max(numel - offset, 0)
        size, stride = rng.choice([((rest,), (1,)), ((0,), (1,)), ((), ()), ((rest, 1), (1, 0)),
                                   ((max(rest // 2, 0), 2), (1, 0)), ((2, max(rest // 2, 0)), (0, 1))])
        if not rest:
            offset, size, stride = 0, (0,), (1,)
    else:
        offset = rng.choice([0, 1, numel - 1, numel, numel + 1, 1 << 31, (1 << 62) - 1, 1 << 63, -1])
        ndim = rng.choice([0, 1, 1, 2, 3, 16, 17])
        size = tuple(rng.choice([0, 1, 2, numel, numel + 1, 1 << 31, (1 << 62) - 1, 1 << 62, -1]) for _ in range(ndim))
        stride = tuple(rng.choice([0, 1, 2, numel, (1 << 62) - 1, 1 << 63, -1])
                       for _ in range(ndim if rng.random() < 0.8 else rng.choice([0, 1, 4])))
    requires_grad = rng.choice([[('\x89', None)]] * 4 + [[('\x88', None)], [('N', None)], _int_ops(1)])
    hooks = rng.choice([_ORDERED_DICT] * 4 + [[('}', None)], [('N', None)], [(']', None)],
                       _ORDERED_DICT + [('X', 'h'), ('c', 'builtins print'), ('s', None)]])
    args = [_pid_ops(rng, pid), _int_ops(offset), _sequence_ops(rng, size), _sequence_ops(rng, stride)]
    rebuild = rng.choice(['v2'] * 5 + ['v3', 'v3', 'v1'])
    if rebuild == 'v2':
        name, args = 'torch._utils _rebuild_tensor_v2', args + [requires_grad, hooks]
        if rng.random() < 0.2:
            args.append(rng.choice([[('}', None)], [('}', None)] + _str_op('conj') + [('\x88', None), ('s', None)]]))
    elif rebuild == 'v3':
        dtype = rng.choice(['torch float32', 'torch float64', 'torch float16', 'torch bfloat16', 'torch int8',
                            'torch uint8', 'torch bool', 'torch complex128', 'torch float8_e5m2', 'torch qint8',
                            'torch uint64', 'torch Tensor'])
        name, args = 'torch._utils _rebuild_tensor_v3', args + [requires_grad, hooks, [('c', dtype)]]
    else:
        name = 'torch._utils _rebuild_tensor'
    tensor = _call_ops(name, args)
    wrap = rng.random()
    if wrap < 0.15:
        return _call_ops(rng.choice(['torch._utils _rebuild_parameter', 'torch._utils _rebuild_parameter_with_state']),
                         [tensor, requires_grad, _ORDERED_DICT])
    if wrap < 0.25:
        new_type = rng.choice(['torch Tensor', 'torch.nn.parameter Parameter', 'torch.nn.parameter Buffer',
                               'collections OrderedDict'])
        state = [('}', None)] + _str_op(rng.choice(['tag', '__class__'])) + _str_op('x') + [('s', None)]
        return _call_ops('torch._tensor _rebuild_from_type_v2', [[('c', name)], [('c', new_type)], _tuple_ops(args),
                                                                  state])
    return tensor


def _value(rng: random.Random, corpus: Corpus, seed: Seed) -> List[Op]:
    base = rng.randrange(100000, 1000000)  # memo indices the host pickle never uses
    kind = rng.choice(['deep', 'cycle', 'keys', 'lengths', 'big', 'calls', 'calls', 'embedded', 'embedded', 'tensor'])
    if kind == 'tensor' and seed.pids:
        return _tensor_value(rng, rng.choice(seed.pids))
    maker = {'deep': _deep, 'cycle': _cycle, 'keys': _odd_keys, 'lengths': _declared_lengths, 'big': _big_values,
             'calls': _odd_calls}.get(kind)
    return maker(rng, base) if maker else _embedded_value(rng, corpus, base)


def _add_entry(ops: List[Op], key: str, value: List[Op]) -> List[Op]:
    """``ops`` with ``root[key] = value`` set just before STOP (every seed's root is a dict)."""
    stop = max(i for i, (code, _) in enumerate(ops) if code == '.')
    return ops[:stop] + _str_op(key) + value + [('s', None)] + ops[stop:]


def _place(rng: random.Random, ops: List[Op], value: List[Op]) -> List[Op]:
    leaves = [i for i, (code, _) in enumerate(ops) if code in _LEAVES]
    if leaves and rng.random() < 0.5:
        i = rng.choice(leaves)
        return ops[:i] + value + ops[i + 1:]
    return _add_entry(ops, rng.choice(['fuzz', 'state_dict', 'meta', 'message_hub']), value)


# --------------------------------------------------------------------------------- generators
def gen_seed(rng: random.Random, corpus: Corpus) -> bytes:
    """A genuine file, unchanged: it must load."""
    return rng.choice(corpus.seeds).data


def _op_mutation(rng: random.Random, ops: List[Op]) -> None:
    i = rng.randrange(len(ops))
    what = rng.choice(['delete', 'duplicate', 'insert', 'replace', 'argument', 'argument', 'swap', 'move'])
    if what == 'delete':
        del ops[i:i + rng.randint(1, 3)]
    elif what == 'duplicate':
        run = ops[i:i + rng.randint(1, 8)]
        j = rng.choice([i + len(run), rng.randrange(len(ops) + 1)])
        ops[j:j] = run
    elif what == 'insert':
        ops.insert(i, _random_op(rng))
    elif what == 'replace':
        ops[i] = _random_op(rng)
    elif what == 'argument':
        with_args = [k for k, (_, arg) in enumerate(ops) if arg is not None]
        k = rng.choice(with_args)
        ops[k] = (ops[k][0], _tweak(rng, *ops[k]))
    elif what == 'swap' and i + 1 < len(ops):
        ops[i], ops[i + 1] = ops[i + 1], ops[i]
    elif what == 'move':
        run = ops[i:i + rng.randint(1, 8)]
        del ops[i:i + len(run)]
        j = rng.randrange(len(ops) + 1)
        ops[j:j] = run


def gen_pickle_ops(rng: random.Random, corpus: Corpus) -> bytes:
    """The object pickle with 1-4 opcodes deleted, duplicated, inserted, replaced, moved or re-argued."""
    seed = rng.choice(corpus.pickled)
    ops = list(seed.ops)
    for _ in range(rng.randint(1, 4)):
        if ops:
            _op_mutation(rng, ops)
    return _pack(seed, ops)


def gen_pickle_names(rng: random.Random, corpus: Corpus) -> bytes:
    """Names the pickle gives (GLOBAL, or STACK_GLOBAL's strings) changed to others, dangerous ones included."""
    seed = rng.choice(corpus.pickled)
    ops = list(seed.ops)
    spots = [i for i, (code, _) in enumerate(ops) if code == 'c'] or \
        [i for i, (code, _) in enumerate(ops) if code in ('\x8c', 'X')]
    for i in rng.sample(spots, min(len(spots), rng.randint(1, 3))):
        code, arg = ops[i]
        if code == 'c':
            ops[i] = (code, rng.choice(NAMES))
        else:
            ops[i] = (code, rng.choice(NAMES).split(' ')[rng.randrange(2)])
    return _pack(seed, ops)


def gen_pickle_splice(rng: random.Random, corpus: Corpus) -> bytes:
    """A run of opcodes from another seed's pickle spliced in (or over a run of this one)."""
    seed, other = rng.choice(corpus.pickled), rng.choice(corpus.pickled)
    ops = list(seed.ops)
    start = rng.randrange(len(other.ops))
    run = other.ops[start:start + rng.randint(1, 40)]
    i = rng.randrange(len(ops))
    ops[i:i + (rng.randint(0, 40) if rng.random() < 0.5 else 0)] = run
    return _pack(seed, ops)


def gen_pickle_values(rng: random.Random, corpus: Corpus) -> bytes:
    """A crafted value in place of a leaf or as a new root entry: deep, cyclic, odd keys, lengths, calls, objects."""
    seed = rng.choice(corpus.pickled)
    return _pack(seed, _place(rng, list(seed.ops), _value(rng, corpus, seed)))


def gen_tensor_args(rng: random.Random, corpus: Corpus) -> bytes:
    """Extra tensors over the file's storages: valid views, and offsets, sizes, strides, dtypes, ids at edges."""
    seed = rng.choice([s for s in corpus.pickled if s.pids])
    ops = list(seed.ops)
    for n in range(rng.randint(1, 3)):
        ops = _add_entry(ops, f'tensor{n}', _tensor_value(rng, rng.choice(seed.pids)))
    return _pack(seed, ops)


def _interesting_offsets(data: bytes) -> List[int]:
    spots = [m.start() for m in re.finditer(b'PK\x01\x02|PK\x03\x04|PK\x05\x06|PK\x06\x06|PK\x06\x07', data)]
    return [min(max(s + d, 0), len(data) - 1) for s in spots for d in range(0, 46)] or [0]


def gen_archive_bytes(rng: random.Random, corpus: Corpus) -> bytes:
    """Any seed's bytes flipped, zeroed, cut, inserted or repeated (near zip headers more often)."""
    data = bytearray(rng.choice(corpus.seeds).data)
    for _ in range(rng.randint(1, 3)):
        if not data:
            break
        spot = rng.choice(_interesting_offsets(bytes(data))) if rng.random() < 0.5 else rng.randrange(len(data))
        what = rng.choice(['flip', 'flip', 'set', 'truncate', 'insert', 'delete', 'repeat'])
        if what == 'flip':
            data[spot] ^= 1 << rng.randrange(8)
        elif what == 'set':
            n = rng.randint(1, 8)
            data[spot:spot + n] = bytes([rng.choice([0, 0xff, rng.randrange(256)])]) * n
        elif what == 'truncate':
            del data[rng.choice([spot, len(data) - 1, len(data) - 22, 9, 4]):]
        elif what == 'insert':
            data[spot:spot] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif what == 'delete':
            del data[spot:spot + rng.randint(1, 64)]
        else:
            data[spot:spot] = data[spot:spot + rng.randint(1, 256)]
    return bytes(data)


_CENTRAL_FIELDS = {'flags': (8, 'H'), 'method': (10, 'H'), 'crc': (16, 'I'), 'compressed': (20, 'I'),
                   'size': (24, 'I'), 'name_length': (28, 'H'), 'extra_length': (30, 'H'), 'disk': (34, 'H'),
                   'offset': (42, 'I')}
_LOCAL_FIELDS = {'flags': (6, 'H'), 'method': (8, 'H'), 'crc': (14, 'I'), 'compressed': (18, 'I'), 'size': (22, 'I'),
                 'name_length': (26, 'H'), 'extra_length': (28, 'H')}
_END_FIELDS = {'disk': (4, 'H'), 'directory_disk': (6, 'H'), 'entries_here': (8, 'H'), 'entries': (10, 'H'),
               'directory_size': (12, 'I'), 'directory_offset': (16, 'I'), 'comment_length': (20, 'H')}


def _patch_field(rng: random.Random, data: bytearray, signature: bytes, fields: Dict[str, Tuple[int, str]]) -> None:
    spots = [m.start() for m in re.finditer(re.escape(signature), bytes(data))]
    if not spots:
        return
    start = rng.choice(spots)
    offset, fmt = fields[rng.choice(sorted(fields))]
    if start + offset + struct.calcsize(fmt) > len(data):
        return
    old = struct.unpack_from('<' + fmt, data, start + offset)[0]
    top = (1 << (8 * struct.calcsize(fmt))) - 1
    new = rng.choice([0, 1, top, old + 1, old - 1, old * 2, rng.randrange(top + 1), 8, 0x0800])
    struct.pack_into('<' + fmt, data, start + offset, new & top)


def _zip64_end(rng: random.Random, data: bytes) -> bytes:
    """A zip64 end record and locator slipped in before the end record, whose fields then defer to them."""
    end = data.rfind(b'PK\x05\x06')
    if end < 0:
        return data
    entries, size, offset = struct.unpack_from('<HII', data, end + 10)
    pick = lambda real: rng.choice([real, real, 0, real + 1, 1 << 62, (1 << 64) - 1])  # noqa: E731
    record = b'PK\x06\x06' + struct.pack('<QHHIIQQQQ', 44, 45, 45, 0, 0, pick(entries), pick(entries), pick(size),
                                         pick(offset))
    locator = b'PK\x06\x07' + struct.pack('<IQI', 0, pick(end), 1)
    tail = bytearray(data[end:])
    struct.pack_into('<HHII', tail, 8, 0xffff, 0xffff, 0xffffffff, 0xffffffff)
    return data[:end] + record + locator + bytes(tail)


def gen_zip_records(rng: random.Random, corpus: Corpus) -> bytes:
    """torch's zip rewritten: records duplicated, compressed, resized, added, removed, reordered; header fields."""
    seed = rng.choice(corpus.zips)
    records = list(seed.records)
    prefix = records[0][0].split('/')[0]
    storages = [i for i, (name, _) in enumerate(records) if '/data/' in name]
    compression: Dict[str, int] = {}
    zip64, flags = False, 0
    what = rng.choice(['duplicate', 'compress', 'resize', 'extra', 'byteorder', 'no_pickle', 'shuffle', 'zip64',
                       'remove_storage', 'other_pickle', 'flags', 'central', 'local', 'end', 'zip64_end'])
    if what == 'duplicate':
        i = rng.randrange(len(records))
        records.insert(rng.randrange(len(records) + 1), (records[i][0], rng.choice([records[i][1], b'x'])))
    elif what == 'compress':
        method = rng.choice([zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
        chosen = records if rng.random() < 0.5 else [rng.choice(records)]
        compression = {name: method for name, _ in chosen}
    elif what == 'resize' and storages:
        i = rng.choice(storages)
        name, data = records[i]
        records[i] = (name, rng.choice([data + b'\x00' * rng.choice([1, 4, 8]), data[:-1], data[:len(data) // 2], b'']))
    elif what == 'extra':
        records.insert(rng.randrange(len(records) + 1), rng.choice([
            (f'{prefix}/constants.pkl', pickle.dumps(())), (f'{prefix}/code/__torch__.py', b'x = 1'),
            (f'{prefix}/data/9999', b'\x00' * 16), ('other/data.pkl', b'\x80\x02}.'), (f'{prefix}/data/', b''),
            (f'{prefix}/' + 'n' * 5000, b''), (f'{prefix}/../escape', b'x'), ('', b'')]))
    elif what == 'byteorder':
        order = [i for i, (name, _) in enumerate(records) if name.endswith('/byteorder')]
        value = rng.choice([b'big', b'little\n', b'x' * 20, b'', None])
        for i in reversed(order):
            if value is None:
                del records[i]
            else:
                records[i] = (records[i][0], value)
    elif what == 'no_pickle':
        i = next(i for i, (name, _) in enumerate(records) if name.endswith('/data.pkl'))
        records[i] = rng.choice([(f'{prefix}/data.pickle', records[i][1]), (records[i][0], b''),
                                 (records[i][0], b'\x80\x02'), (records[i][0], bytes(range(256)))])
    elif what == 'shuffle':
        rng.shuffle(records)
    elif what == 'zip64':
        zip64 = True
    elif what == 'remove_storage' and storages:
        del records[rng.choice(storages)]
    elif what == 'other_pickle':
        i = next(i for i, (name, _) in enumerate(records) if name.endswith('/data.pkl'))
        other = rng.choice(corpus.pickled)
        records[i] = (records[i][0], rng.choice([assemble(other.ops), pickle.dumps({'a': 1}, protocol=0),
                                                 pickle.dumps({'w': [1.0]}, protocol=5)]))
    elif what == 'flags':
        flags = rng.choice([0x1, 0x8, 0x800, 0x40])
    archive = bytearray(zip_file(records, compression, zip64, flags))
    if what == 'central':
        _patch_field(rng, archive, b'PK\x01\x02', _CENTRAL_FIELDS)
    elif what == 'local':
        _patch_field(rng, archive, b'PK\x03\x04', _LOCAL_FIELDS)
    elif what == 'end':
        _patch_field(rng, archive, b'PK\x05\x06', _END_FIELDS)
    elif what == 'zip64_end':
        return _zip64_end(rng, bytes(archive))
    return bytes(archive)


def _count_spots(seed: Seed) -> List[int]:
    """Where each storage's element count sits in a legacy file's tail (walked with the ids' item sizes)."""
    sizes = {pid['key']: pid['numel'] * _STORAGE_ITEMSIZE.get(pid['kind'], 1) for pid in seed.pids}
    spots, at = [], 0
    for key in pickle.loads(seed.keys):
        spots.append(at)
        at += 8 + sizes.get(key, 0)
    return spots


def gen_legacy_layout(rng: random.Random, corpus: Corpus) -> bytes:
    """torch's legacy layout altered: magic, protocol, system info, storage keys, counts, storage bytes."""
    seed = rng.choice(corpus.legacies)
    heads, obj, keys, tail = list(seed.heads), assemble(seed.ops), seed.keys, bytearray(seed.tail)
    key_list = pickle.loads(keys)
    what = rng.choice(['magic', 'protocol', 'info', 'keys', 'count', 'truncate', 'append', 'zip_pickle', 'order'])
    if what == 'magic':
        heads[0] = pickle.dumps(rng.choice([0x1950a86a20f9469cfc6c + 1, 0, 'magic', -1]), protocol=2)
    elif what == 'protocol':
        heads[1] = pickle.dumps(rng.choice([1000, 1002, '1001', 1001.0]), protocol=2)
    elif what == 'info':
        heads[2] = pickle.dumps(rng.choice([{'protocol_version': 1001, 'little_endian': False},
                                            {'little_endian': 0}, [], None, {'type_sizes': {'int': 8}}]), protocol=2)
    elif what == 'keys':
        changed = rng.choice([key_list[:-1], key_list + key_list[:1], key_list + ['nokey'], [1] + key_list, [],
                              tuple(key_list), key_list * 1000])
        keys = pickle.dumps(changed, protocol=2)
    elif what == 'count':
        spot = rng.choice(_count_spots(seed))
        count = struct.unpack_from('<Q', tail, spot)[0]
        new = rng.choice([0, count + 1, count - 1 if count else 1, (1 << 64) - 1, 1 << 40])
        struct.pack_into('<Q', tail, spot, new)
    elif what == 'truncate':
        del tail[rng.randrange(max(len(tail), 1)):]
    elif what == 'append':
        tail += bytes(rng.randint(1, 64))
    elif what == 'zip_pickle':
        obj = assemble(rng.choice(corpus.zips).ops)
    else:
        heads.reverse()
    return b''.join(heads) + obj + keys + bytes(tail)


def _header_text(header: Dict[str, Any], duplicate: Optional[str] = None) -> bytes:
    items = [f'{json.dumps(k)}:{json.dumps(v)}' for k, v in header.items()]
    if duplicate is not None:
        items.append(f'{json.dumps(duplicate)}:{json.dumps(header[duplicate])}')
    return ('{' + ','.join(items) + '}').encode('utf-8', 'surrogatepass')


def _safetensors(text: bytes, body: bytes, length: Optional[int] = None) -> bytes:
    text += b' ' * (-len(text) % 8)
    return struct.pack('<Q', len(text) if length is None else _mask(length, 64)) + text + body


def gen_safetensors(rng: random.Random, corpus: Corpus) -> bytes:
    """A safetensors header edited: dtypes, shapes, offsets, duplicates, metadata, nesting, lengths; or cut."""
    data = rng.choice(corpus.safetensors).data
    length = struct.unpack_from('<Q', data)[0]
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    names = [k for k in header if k != '__metadata__']
    name = rng.choice(names)
    entry = header[name]
    what = rng.choice(['dtype', 'shape', 'offsets', 'entry', 'duplicate', 'metadata', 'deep', 'length', 'truncate',
                       'many', 'overlap', 'bool', 'big_header'])
    duplicate = None
    if what == 'dtype':
        entry['dtype'] = rng.choice(['F128', 'f32', 'BOOL', 'F8_E4M3', 'C64', 'U64', 'I4', 7, None, ['F32']])
    elif what == 'shape':
        entry['shape'] = rng.choice([[-1], [1 << 62], [0, 1 << 62, 1 << 62], [1] * 17, [2.0], ['2'], 4, [],
                                     [entry['shape'][0] + 1] if entry['shape'] else [2], [True]])
    elif what == 'offsets':
        begin, end = entry['data_offsets']
        entry['data_offsets'] = rng.choice([[end, begin], [begin, end + 1], [begin - 1, end - 1], [0, len(body) + 8],
                                            [begin, end, end], [-8, end], [1 << 63, 1 << 63], [begin, 1e3], None])
    elif what == 'entry':
        header[name] = rng.choice([[], 'x', {**entry, 'extra': 1}, {'dtype': 'F32'}, None])
    elif what == 'duplicate':
        duplicate = name
    elif what == 'metadata':
        from hrnet_mm.checkpoint.safetensors_file import META_KEY
        depth = rng.choice([30, 31, 33, 40, 900])  # the root is 0, meta 1, the key 2: 31 lists reach 32
        header['__metadata__'] = rng.choice([
            {'a': 1}, ['x'], 'text', {'a': {'b': 'c'}}, {META_KEY: 'not json'}, {META_KEY: '[1, 2]'},
            {META_KEY: '[' * 100000 + ']' * 100000}, {META_KEY: json.dumps({'cfg': 'x = [' + '1, ' * 50000 + ']'})},
            {META_KEY: '{"deep": ' + '[' * depth + ']' * depth + '}'},
            {META_KEY: '{"a": ' + json.dumps([0.5] * 200000) + '}'}, {'\ud800': 'x'}])
    elif what == 'deep':
        n = rng.choice([100, 1000, 100000])
        text = _header_text(header)
        return _safetensors(text[:-1] + b',"deep":' + b'[' * n + b']' * n + b'}', body)
    elif what == 'length':
        text = _header_text(header)
        return _safetensors(text, body, rng.choice([0, 1, 2, len(text) - 1, len(text) + 1, len(text) + len(body),
                                                    len(text) + len(body) + 1, 16 * MiB + 1, 1 << 63, (1 << 64) - 1]))
    elif what == 'truncate':
        return data[:rng.randrange(len(data))]
    elif what == 'many':
        n = rng.choice([1000, 20000])
        extra = {f'e{i}': {'dtype': 'F32', 'shape': [0], 'data_offsets': [0, 0]} for i in range(n)}
        header.update(extra)
    elif what == 'overlap' and len(names) > 1:
        other = header[rng.choice([k for k in names if k != name])]
        if entry['dtype'] == other['dtype'] and entry['shape'] == other['shape']:
            entry['data_offsets'] = list(other['data_offsets'])
        else:
            entry['data_offsets'] = [other['data_offsets'][0], other['data_offsets'][0] + entry['data_offsets'][1]
                                     - entry['data_offsets'][0]]
    elif what == 'bool':
        header[name] = {'dtype': 'BOOL', 'shape': [4], 'data_offsets': [len(body), len(body) + 4]}
        body += bytes([0, 1, 2, 255])
    elif what == 'big_header':  # past the header bound, in a file large enough to hold it
        text = _header_text(header)
        return _safetensors(text[:-1] + b' ' * (16 * MiB) + b'}', body)
    return _safetensors(_header_text(header, duplicate), body)


def _config_texts(rng: random.Random) -> str:
    n = rng.choice([10, 1000, 50000, 150000])
    return rng.choice([
        lambda: 'x = [' + '1, ' * n + ']',
        lambda: 'x = ' + '[' * min(n, 100000) + ']' * min(n, 100000),
        lambda: 'x = ' + '-' * n + '1',
        lambda: 'x = 1' + ' + 1' * n,
        lambda: 'x = ' + 'not ' * n + 'True',
        lambda: 'a = 1\n' * n,
        lambda: 'x = dict(' + ', '.join(f'k{i}={i}' for i in range(n)) + ')',
        lambda: 'x = {' + ', '.join(f'{i}: {i}' for i in range(n)) + '}',
        lambda: 'x = ' + 'a.' * n + 'b',
        lambda: 'x = ' + '(' * 199 + '1' + ')' * 199,
        lambda: 'x = ' + repr('a' * n),
        lambda: 'x = ' + '9' * 5000,
        lambda: "custom_imports = dict(imports=['os', 'sys'])",
        lambda: "custom_imports = dict(imports=['antigravity'])",
        lambda: 'custom_imports = dict(imports=[0x' + 'f' * 4000 + '])',
        lambda: 'custom_imports = dict(imports=[' + "'m', " * n + '])',
        lambda: 'custom_imports = dict(imports=' + '[' * 1000 + "'os'" + ']' * 1000 + ')',
        lambda: "_base_ = ['../_base_/default_runtime.py']",
        lambda: "x = __import__('os').getpid()",
        lambda: 'x = 1\x00',
        lambda: 'x = "\ud800"',
        lambda: 'x = (lambda: 0)()',
    ])()


def gen_config_text(rng: random.Random, corpus: Corpus) -> bytes:
    """A checkpoint whose config text (meta.cfg, meta.config, message_hub.runtime_info.cfg) is hostile."""
    text = _config_texts(rng)
    where = rng.choice(['meta.cfg', 'meta.config', 'message_hub.runtime_info.cfg'])
    checkpoint: Dict[str, Any] = {'state_dict': {'w': torch.ones(2)}}
    node = checkpoint
    parts = where.split('.')
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = text
    fmt = rng.choice(['zip', 'zip', 'legacy', 'safetensors'])
    buffer = io.BytesIO()
    if fmt == 'safetensors':
        from hrnet_mm.checkpoint.safetensors_file import META_KEY, write_safetensors
        write_safetensors(buffer, checkpoint['state_dict'], {META_KEY: json.dumps({'cfg': text})})
    else:
        torch.save(checkpoint, buffer, _use_new_zipfile_serialization=fmt == 'zip')
    return buffer.getvalue()


def gen_flood(rng: random.Random, corpus: Corpus) -> bytes:
    """A pickle of MiBs of cheap opcodes: memo entries, stack values, dict and list items, marks, strings."""
    seed = rng.choice([s for s in corpus.zips if s.name == 'state_dict'])
    n = 4 * MiB  # the least at which memo or dict entries undercharged by half pass 4 x size + 64 MiB
    kind = rng.choice(['memo', 'stack', 'ints', 'dict', 'list', 'marks', 'strings'])
    if kind == 'memo':
        value = [(RAW, b'}' + b''.join(b'r' + struct.pack('<I', i) for i in range(n // 5)))]
    elif kind == 'stack':
        value = [(RAW, b'(' + b'N' * n + b'1N')]
    elif kind == 'ints':
        value = [(RAW, b'(' + b''.join(b'J' + struct.pack('<i', i + 1000) for i in range(n // 5)) + b'1N')]
    elif kind == 'dict':
        value = [(RAW, b'}(' + b''.join(b'J' + struct.pack('<i', i) + b'N' for i in range(n // 6)) + b'u')]
    elif kind == 'list':
        value = [(RAW, b'](' + b''.join(b'J' + struct.pack('<i', i + 1000) for i in range(n // 5)) + b'e')]
    elif kind == 'marks':
        value = [(RAW, b'(' * (n // 2) + b'N' + b'1' * (n // 2) + b'N')]
    else:
        value = [(RAW, b'(' + b'\x8c\x02ab' * (n // 4) + b'l')]
    return _pack(seed, _add_entry(list(seed.ops), 'flood', value))


GENERATORS: Dict[str, Tuple[int, Callable[[random.Random, Corpus], bytes]]] = {
    'seed': (3, gen_seed),
    'pickle_ops': (14, gen_pickle_ops),
    'pickle_names': (6, gen_pickle_names),
    'pickle_splice': (5, gen_pickle_splice),
    'pickle_values': (16, gen_pickle_values),
    'tensor_args': (12, gen_tensor_args),
    'archive_bytes': (8, gen_archive_bytes),
    'zip_records': (10, gen_zip_records),
    'legacy_layout': (6, gen_legacy_layout),
    'safetensors': (10, gen_safetensors),
    'config_text': (4, gen_config_text),
    'flood': (1, gen_flood),
}


def generate(corpus: Corpus, seed: int, index: int) -> Tuple[str, bytes]:
    """Input ``index`` of run ``seed``: ``(generator, bytes)``, the same whenever it is asked for."""
    rng = random.Random(f'{seed}:{index}')
    names = list(GENERATORS)
    name = rng.choices(names, weights=[GENERATORS[n][0] for n in names])[0]
    return name, GENERATORS[name][1](rng, corpus)


# ------------------------------------------------------------------------------- classification
_BOUND = re.compile(r'outside a loading bound \(([^)]*)\)')


def classify(message: str) -> str:
    """The outcome a CheckpointError message stands for: refused, bound, damaged or not a checkpoint."""
    if 'was refused' in message:
        return 'refused'
    if 'outside a loading bound' in message:
        return 'bound'
    if 'damaged' in message or 'truncated' in message:
        return 'damaged'
    return 'not a checkpoint'


def _first_line(err: BaseException) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    text = f'{type(err).__name__}: {lines[0] if lines else ""}'
    return text if len(text) <= 300 else text[:297] + '...'


def _where(err: BaseException) -> str:
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return ''
    last = frames[-1]
    ours = [f for f in frames if f'{os.sep}hrnet_mm{os.sep}' in f.filename and 'checkpoint_fuzz' not in f.filename]
    where = f'{Path(last.filename).name}:{last.lineno} in {last.name}'
    if ours and ours[-1] is not last:
        where += f' (from {Path(ours[-1].filename).name}:{ours[-1].lineno} in {ours[-1].name})'
    return where


def _safe_text(text: str) -> str:
    return text.encode('utf-8', 'backslashreplace').decode('utf-8')


# ----------------------------------------------------------------------------------- the worker
def _status_bytes(name: str) -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(name + ':'):
                return int(line.split()[1]) * 1024
    raise OSError(f'no {name} in /proc/self/status')


class _PeakMeter:
    """Peak resident memory grown during one call: VmHWM reset through clear_refs, else ru_maxrss."""

    def __init__(self) -> None:
        self.resettable = True
        self.base = 0
        libc = ctypes.CDLL(None)
        self.trim = getattr(libc, 'malloc_trim', None)

    def start(self) -> None:
        if self.trim is not None:
            self.trim(0)  # what earlier inputs freed goes back first, so growth is measured, not reuse
        if self.resettable:
            try:
                with open('/proc/self/clear_refs', 'w') as f:
                    f.write('5')
                self.base = _status_bytes('VmRSS')
                return
            except OSError:
                self.resettable = False
        self.base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def growth(self) -> int:
        peak = _status_bytes('VmHWM') if self.resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return max(peak - self.base, 0)


def _limit_address_space(headroom: int) -> int:
    """Cap this process's address space at its current size plus ``headroom`` bytes (so big asks fail)."""
    limit = _status_bytes('VmSize') + headroom
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def _entry_points() -> Dict[str, Callable[[str, str], Any]]:
    from mmengine.runner.checkpoint import CheckpointLoader

    import hrnet_mm
    hrnet_mm.activate()  # routes mmengine's CheckpointLoader to the loader (this worker imported hrnet_mm first)
    from hrnet_mm.checkpoint import (
        checkpoint_loaders_installed,
        load_checkpoint_bytes,
        load_local_checkpoint,
        verify_checkpoint,
    )
    if not checkpoint_loaders_installed():
        raise RuntimeError('mmengine\'s loaders are not routed to hrnet_mm (is HRNET_MM_SAFE_LOADING=0 set?)')

    def from_bytes(path: str, name: str) -> Any:
        with open(path, 'rb') as f:
            data = f.read()
        return load_checkpoint_bytes(data, name)

    return {
        'load_local_checkpoint': lambda path, name: load_local_checkpoint(path),
        'load_checkpoint_bytes': from_bytes,
        'mmengine': lambda path, name: CheckpointLoader.load_checkpoint(path, map_location='cpu', logger='silent'),
        'verify_checkpoint': lambda path, name: verify_checkpoint(path),
    }


def run_entry(call: Callable[[str, str], Any], path: str, name: str, verify: bool = False) -> Dict[str, Any]:
    """One entry point on one file: its outcome, with the oracle's verdict on a loaded tree.

    Returns:
        ``{'outcome': ...}``: 'loaded' (or 'verified'), a :func:`classify` outcome with ``message``,
        or 'failure' with ``kind``, ``message`` and ``where``.
    """
    from hrnet_mm.errors import CheckpointError
    try:
        tree = call(path, name)
    except CheckpointError as err:
        message = _safe_text(str(err))
        return {'outcome': classify(message), 'message': message[:300]}
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # noqa: B036  (the promise is that nothing else comes out)
        return {'outcome': 'failure', 'kind': 'exception', 'message': _safe_text(_first_line(err)),
                'where': _where(err)}
    if verify:
        if tree is None:
            return {'outcome': 'verified'}
        return {'outcome': 'failure', 'kind': 'returned', 'message': f'returned a {type(tree).__name__}'}
    try:
        problem = canonical_problem(tree)
        if problem is None:
            _touch(tree)
    except Exception as err:  # noqa: BLE001  (a tree the oracle cannot even walk is not canonical)
        problem = f'the oracle failed on it: {_first_line(err)}'
    if problem:
        return {'outcome': 'failure', 'kind': 'non-canonical', 'message': _safe_text(problem)}
    return {'outcome': 'loaded'}


def _run_input(entries: Dict[str, Callable], meter: _PeakMeter, path: str, name: str, timeout: float,
               watched: bool) -> Dict[str, Any]:
    size = os.path.getsize(path)
    allowance = MEMORY_FACTOR * size + MEMORY_SLACK
    faulthandler.dump_traceback_later(max(timeout * 0.8, 1), exit=False)  # a hang leaves its stack in the log
    results = {}
    try:
        for entry, call in entries.items():
            os.environ.pop(CANARY_VARIABLE, None)
            meter.start()
            started = time.perf_counter()
            result = run_entry(call, path, name, verify=entry == 'verify_checkpoint')
            result['growth'] = meter.growth()
            result['seconds'] = round(time.perf_counter() - started, 4)
            if result['outcome'] != 'failure':
                if os.environ.pop(CANARY_VARIABLE, None) or (watched and MODULE in sys.modules):
                    result.update(outcome='failure', kind='called', message='a name from the file was imported or '
                                  'called (the canary fired)')
                elif result['growth'] > allowance:
                    result.update(outcome='failure', kind='memory', message=f'peak memory grew by '
                                  f'{result["growth"]:,} bytes, above 4 x {size:,} + 64 MiB (and then: '
                                  f'{result["outcome"]})')
            results[entry] = result
    finally:
        faulthandler.cancel_dump_traceback_later()
    return {'size': size, 'entries': results}


def _warm_up(entries: Dict[str, Callable], folder: str) -> None:
    """One genuine load through every entry point: lazy imports happen before the limits are set."""
    path = os.path.join(folder, 'warm-up.pth')
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': {'a': np.float64(1.0)}}, path)
    for entry, call in entries.items():
        result = run_entry(call, path, 'warm-up.pth', verify=entry == 'verify_checkpoint')
        if result['outcome'] not in ('loaded', 'verified'):
            raise RuntimeError(f'{entry} does not load a genuine checkpoint: {result}')
    os.remove(path)


def worker_main(headroom: int, sabotage: Optional[Dict[int, str]] = None) -> int:
    """The worker: reads ``{"index", "path", "name", "timeout"}`` lines on stdin, answers one JSON line each.

    Args:
        headroom: Bytes of address space the worker may add once started (see ``--headroom-mib``).
        sabotage: Input index -> 'crash' or 'hang': the worker does that on that input instead of
            loading it, so that tests can check that the parent notices.
    """
    channel = os.fdopen(os.dup(1), 'w', buffering=1, encoding='utf-8')
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # what mmengine logs goes nowhere; stderr stays the parent's log file
    faulthandler.enable()
    warnings.simplefilter('ignore')
    torch.set_num_threads(1)
    watched = MODULE not in sys.modules  # run as __main__: an import of this module by name is the canary
    entries = _entry_points()
    with tempfile.TemporaryDirectory() as folder:
        _warm_up(entries, folder)
    meter = _PeakMeter()
    limit = _limit_address_space(headroom)
    channel.write(json.dumps({'ready': True, 'address_limit': limit, 'watched': watched}) + '\n')
    for line in sys.stdin:
        request = json.loads(line)
        if (sabotage or {}).get(request['index']) == 'crash':
            os.kill(os.getpid(), signal.SIGSEGV)
        if (sabotage or {}).get(request['index']) == 'hang':
            time.sleep(3600)
        result = _run_input(entries, meter, request['path'], request['name'], request['timeout'], watched)
        result['index'] = request['index']
        channel.write(json.dumps(result) + '\n')
        if any(entry.get('kind') == 'called' for entry in result['entries'].values()):
            return 0  # what ran may have changed this process: the next input gets a fresh worker
    return 0


# ----------------------------------------------------------------------------------- the parent
class _Worker:
    """One worker process and the input it is running."""

    def __init__(self, slot: int, folder: Path, arguments: List[str], env: Dict[str, str]) -> None:
        self.slot = slot
        self.input = folder / f'input{slot}.pth'
        self.log_path = folder / f'worker{slot}.log'
        self.log = open(self.log_path, 'ab')
        self.process = subprocess.Popen([sys.executable, '-m', MODULE, '--worker', *arguments],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin: IO[bytes] = self.process.stdin
        self.stdout: IO[bytes] = self.process.stdout
        os.set_blocking(self.stdout.fileno(), False)
        self.pending = b''
        self.ready = False
        self.started = time.monotonic()
        self.job: Optional[Dict[str, Any]] = None

    def send(self, message: Dict[str, Any]) -> bool:
        try:
            self.stdin.write((json.dumps(message) + '\n').encode())
            self.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def read(self) -> Optional[List[Dict[str, Any]]]:
        """Messages that have arrived; None once the worker has closed its end (it died)."""
        try:
            chunk = os.read(self.stdout.fileno(), 1 << 16)
        except BlockingIOError:
            return []
        if not chunk:
            return None
        self.pending += chunk
        *lines, self.pending = self.pending.split(b'\n')
        return [json.loads(line) for line in lines if line.strip()]

    def log_since(self, offset: int) -> str:
        with open(self.log_path, 'rb') as f:
            f.seek(offset)
            return f.read()[-6000:].decode('utf-8', 'replace')

    def stop(self) -> Optional[int]:
        if self.process.poll() is None:
            self.process.kill()
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        for stream in (self.stdin, self.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.log.close()
        return code


def _crash_frames(log: str) -> str:
    """The first frames faulthandler printed: where a worker crashed or hung."""
    lines = [line.strip() for line in log.splitlines()]
    fatal = [line for line in lines if line.startswith(('Fatal Python error', 'Thread', 'Current thread'))]
    frames = [line for line in lines if line.startswith('File "')][:4]
    return ' | '.join(fatal[:1] + frames)


@dataclass
class _Tally:
    """What a run saw: counts by outcome, entry point, generator and bound; failures; the largest growth."""

    inputs: int = 0
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    entries: Dict[str, collections.Counter] = field(default_factory=lambda: collections.defaultdict(
        collections.Counter))
    generators: Dict[str, collections.Counter] = field(default_factory=lambda: collections.defaultdict(
        collections.Counter))
    bounds: collections.Counter = field(default_factory=collections.Counter)
    refusals: collections.Counter = field(default_factory=collections.Counter)
    failures: List[Dict[str, Any]] = field(default_factory=list)
    records: List[Dict[str, Any]] = field(default_factory=list)
    generator_errors: List[str] = field(default_factory=list)
    growth: List[Tuple[float, int, str, int, int]] = field(default_factory=list)
    seconds: collections.Counter = field(default_factory=collections.Counter)


class FuzzRun:
    """Feeds generated inputs to workers and tallies what comes back (see the module doc).

    Args:
        seed: The run's seed; input ``i`` depends only on it and ``i``.
        jobs: Worker processes.
        timeout: Seconds one input may take through all entry points, plus :data:`SECONDS_PER_MIB` per
            MiB of it (a load is linear in its size; a hang is not); longer is a hang.
        failures_dir: Where failing inputs (and their details) are saved.
        headroom: Bytes each worker may map beyond its size after start-up.
        sabotage: Input index -> 'crash' or 'hang', done by the worker instead of loading (for tests of
            the harness itself).
    """

    def __init__(self, seed: int, jobs: int = 1, timeout: float = 20.0, failures_dir: Path = DEFAULT_FAILURES,
                 headroom: int = 1536 * MiB, sabotage: Optional[Dict[int, str]] = None) -> None:
        self.seed, self.jobs, self.timeout = seed, max(jobs, 1), timeout
        self.failures_dir = Path(failures_dir)
        self.arguments = ['--headroom-mib', str(headroom // MiB)]
        if sabotage:
            self.arguments += ['--sabotage', ','.join(f'{i}:{kind}' for i, kind in sabotage.items())]
        self.corpus = Corpus()
        self.tally = _Tally()
        self.worker_starts = 0
        package_root = str(Path(__file__).resolve().parents[2])
        self.env = dict(os.environ, PYTHONHASHSEED='0', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
                        HRNET_MM_SAFE_LOADING='1',
                        PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get('PYTHONPATH')])))
        self.env.pop(CANARY_VARIABLE, None)

    # ------------------------------------------------------------ recording
    def _record(self, job: Dict[str, Any], result: Dict[str, Any], worker: '_Worker') -> None:
        entries = result.get('entries', {})
        failure = result.get('failure')
        for entry, outcome in entries.items():
            self.tally.entries[entry][outcome['outcome']] += 1
            if outcome['outcome'] == 'failure' and failure is None:
                failure = {'kind': outcome['kind'], 'entry': entry, 'message': outcome['message'],
                           'where': outcome.get('where', '')}
            bound = _BOUND.search(outcome.get('message', ''))
            if bound:
                self.tally.bounds[bound.group(1)] += 1
            refusal = re.search(r'was refused: it holds (.*?); safe loading', outcome.get('message', ''))
            if refusal:
                self.tally.refusals[re.sub(r'\d+', 'N', refusal.group(1))[:80]] += 1
        loads = [entries[e]['outcome'] for e in LOADS if e in entries]
        if failure is None and len(set(loads)) > 1:
            failure = {'kind': 'inconsistent', 'entry': '', 'where': '',
                       'message': '; '.join(f'{e}: {entries[e]["outcome"]}' for e in LOADS)}
        if failure is None and loads and loads[0] == 'loaded' and entries['verify_checkpoint']['outcome'] != 'verified':
            failure = {'kind': 'inconsistent', 'entry': 'verify_checkpoint', 'where': '',
                       'message': f'loads, yet verify_checkpoint says: {entries["verify_checkpoint"].get("message")}'}
        outcome = 'failure' if failure else (loads[0] if loads else 'failure')
        self.tally.inputs += 1
        self.tally.outcomes[outcome] += 1
        self.tally.generators[job['generator']][outcome] += 1
        growth = max((e.get('growth', 0) for e in entries.values()), default=0)
        allowance = MEMORY_FACTOR * job['size'] + MEMORY_SLACK
        self.tally.growth.append((growth / allowance, job['index'], job['generator'], job['size'], growth))
        self.tally.growth = sorted(self.tally.growth, reverse=True)[:5]
        seconds = round(sum(e.get('seconds', 0) for e in entries.values()), 3)
        self.tally.seconds[job['generator']] += seconds
        record = {'index': job['index'], 'generator': job['generator'], 'size': job['size'], 'outcome': outcome,
                  'seconds': seconds}
        first = entries.get(LOADS[0], {})
        if first.get('message'):
            record['message'] = first['message'][:160]
        self.tally.records.append(record)
        if failure:
            failure.update(index=job['index'], generator=job['generator'], size=job['size'])
            failure['input'] = self._save(job, worker, failure)
            self.tally.failures.append(failure)

    def _save(self, job: Dict[str, Any], worker: '_Worker', failure: Dict[str, Any]) -> str:
        self.failures_dir.mkdir(parents=True, exist_ok=True)
        stem = self.failures_dir / f'{self.seed}-{job["index"]:06d}-{job["generator"]}'
        shutil.copyfile(worker.input, stem.with_suffix('.bin'))
        stem.with_suffix('.json').write_text(json.dumps({**failure, 'seed': self.seed}, indent=1))
        return str(stem.with_suffix('.bin'))

    # ------------------------------------------------------------ running
    def _start(self, slot: int, folder: Path) -> '_Worker':
        self.worker_starts += 1
        return _Worker(slot, folder, self.arguments, self.env)

    def run(self, indices: Sequence[int], out: Any = sys.stdout) -> Dict[str, Any]:
        """Run the inputs numbered ``indices``; returns the summary (see :meth:`summary`)."""
        started = time.monotonic()
        queue = collections.deque(indices)
        total = len(queue)
        with tempfile.TemporaryDirectory(prefix='checkpoint_fuzz_') as tmp:
            folder = Path(tmp)
            selector = selectors.DefaultSelector()
            workers = [self._start(slot, folder) for slot in range(min(self.jobs, max(total, 1)))]
            for worker in workers:
                selector.register(worker.stdout, selectors.EVENT_READ, worker)
            failed_starts = 0
            try:
                while self.tally.inputs + len(self.tally.generator_errors) < total:
                    for worker in workers:
                        while worker.ready and worker.job is None and queue:
                            self._dispatch(worker, queue.popleft())
                    now = time.monotonic()
                    deadlines = [w.job['started'] + w.job['timeout'] if w.job else w.started + 300 for w in workers
                                 if w.job or not w.ready]
                    wait = min([max(d - now, 0.0) for d in deadlines] + [1.0])
                    for key, _ in selector.select(timeout=wait):
                        worker = key.data
                        messages = worker.read()
                        if messages is None:
                            failed_starts += 0 if worker.ready else 1
                            if failed_starts > 3:
                                raise RuntimeError('fuzz workers fail to start:\n' + worker.log_since(0))
                            workers[worker.slot] = self._replace(worker, selector, folder, 'crash')
                            continue
                        for message in messages:
                            if message.get('ready'):
                                worker.ready = True
                            elif worker.job is not None:
                                job, worker.job = worker.job, None
                                self._record(job, message, worker)
                    now = time.monotonic()
                    for worker in list(workers):
                        if worker.job and now - worker.job['started'] > worker.job['timeout']:
                            workers[worker.slot] = self._replace(worker, selector, folder, 'timeout')
                        elif not worker.ready and now - worker.started > 300:
                            raise RuntimeError('a fuzz worker did not start in 300 s:\n' + worker.log_since(0))
            finally:
                selector.close()
                for worker in workers:
                    worker.stop()
        return self.summary(time.monotonic() - started)

    def _dispatch(self, worker: '_Worker', index: int) -> None:
        try:
            generator, data = generate(self.corpus, self.seed, index)
        except Exception as err:  # noqa: BLE001  (a bug of a generator, reported apart from the loader's)
            self.tally.generator_errors.append(f'input {index}: {_first_line(err)} at {_where(err)}')
            return
        worker.input.write_bytes(data)
        worker.job = {'index': index, 'generator': generator, 'size': len(data), 'started': time.monotonic(),
                      'timeout': self.timeout + SECONDS_PER_MIB * len(data) / MiB,
                      'log_offset': worker.log_path.stat().st_size}
        name = f'fuzz-{index}.pth'
        if index % 2:  # half the in-memory loads check a sha256 prefix in the name (it matches)
            import hashlib
            name = f'fuzz-{hashlib.sha256(data).hexdigest()[:12]}.pth'
        # A worker that died meanwhile shows as end of file on its pipe: the input is then recorded as a crash.
        worker.send({'index': index, 'path': str(worker.input), 'name': name, 'timeout': worker.job['timeout']})

    def _replace(self, worker: '_Worker', selector: selectors.BaseSelector, folder: Path, kind: str) -> '_Worker':
        job = worker.job
        selector.unregister(worker.stdout)
        code = worker.stop()
        if job is not None:
            log = worker.log_since(job['log_offset'])
            if kind == 'crash':
                died = f'killed by {signal.Signals(-code).name}' if code is not None and code < 0 else f'exit {code}'
                message = f'the worker died ({died})'
            else:
                message = f'no result after {job["timeout"]:.0f} s'
            result = {'failure': {'kind': kind, 'entry': '', 'message': message, 'where': _crash_frames(log),
                                  'log': log[-3000:]}}
            self._record(job, result, worker)
        replacement = self._start(worker.slot, folder)
        selector.register(replacement.stdout, selectors.EVENT_READ, replacement)
        return replacement

    # ------------------------------------------------------------ reporting
    def summary(self, seconds: float) -> Dict[str, Any]:
        """Counts, failures and the largest memory growth of the run, as one JSON-ready dict."""
        t = self.tally
        return {
            'inputs': t.inputs, 'seed': self.seed, 'jobs': self.jobs, 'seconds': round(seconds, 1),
            'worker_starts': self.worker_starts,
            'outcomes': {k: t.outcomes.get(k, 0) for k in OUTCOMES},
            'entry_points': {e: dict(t.entries[e]) for e in ENTRY_POINTS if e in t.entries},
            'generators': {g: dict(c) for g, c in sorted(t.generators.items())},
            'generator_seconds': {g: round(s, 1) for g, s in sorted(t.seconds.items())},
            'bounds': dict(t.bounds.most_common()),
            'refusals': dict(t.refusals.most_common(25)),
            'largest_growth': [{'index': i, 'generator': g, 'size': s, 'growth': b, 'of_allowance': round(r, 3)}
                               for r, i, g, s, b in t.growth],
            'failures': t.failures,
            'generator_errors': t.generator_errors,
            'records': t.records,
        }


def format_summary(summary: Dict[str, Any]) -> str:
    """The summary as text: totals, per entry point, per generator, bounds hit, failures."""
    lines = [f'checkpoint fuzz: {summary["inputs"]} inputs, seed {summary["seed"]}, {summary["jobs"]} workers, '
             f'{summary["seconds"]} s ({summary["worker_starts"]} worker starts)',
             'outcomes: ' + ', '.join(f'{k} {v}' for k, v in summary['outcomes'].items())]
    lines.append('entry points:')
    for entry, counts in summary['entry_points'].items():
        lines.append(f'  {entry:<22} ' + ', '.join(f'{k} {v}' for k, v in sorted(counts.items())))
    lines.append('generators:')
    for name, counts in summary['generators'].items():
        spread = ', '.join(f'{k} {v}' for k, v in sorted(counts.items()))
        seconds = summary['generator_seconds'].get(name, 0)
        lines.append(f'  {name:<14} {sum(counts.values()):>6} inputs {seconds:>7.1f} s  {spread}')
    lines.append('bounds hit: ' + (', '.join(f'{k} {v}' for k, v in summary['bounds'].items()) or 'none'))
    top = summary['largest_growth'][:1]
    if top:
        lines.append(f'largest memory growth: {top[0]["growth"]:,} bytes for {top[0]["size"]:,} bytes '
                     f'(input {top[0]["index"]}, {top[0]["generator"]}; {top[0]["of_allowance"]:.0%} of its allowance)')
    for error in summary['generator_errors']:
        lines.append(f'generator error: {error}')
    lines.append(f'failures: {len(summary["failures"])}')
    for failure in summary['failures']:
        lines.append(f'  input {failure["index"]} ({failure["generator"]}, {failure["size"]:,} bytes): '
                     f'{failure["kind"]} in {failure["entry"] or "the worker"}: {failure["message"]}')
        if failure.get('where'):
            lines.append(f'    at {failure["where"]}')
        lines.append(f'    saved as {failure["input"]}')
    return '\n'.join(lines)


def replay(paths: Sequence[str]) -> int:
    """Load saved inputs here, through every entry point, printing outcomes and full tracebacks."""
    warnings.simplefilter('ignore')
    entries = _entry_points()
    from hrnet_mm.errors import CheckpointError
    bad = 0
    for path in paths:
        print(f'{path} ({os.path.getsize(path):,} bytes)')
        for entry, call in entries.items():
            try:
                tree = call(path, os.path.basename(path))
            except CheckpointError as err:
                print(f'  {entry}: {classify(str(err))}: {_safe_text(str(err))[:300]}')
                continue
            except Exception:  # noqa: BLE001
                bad += 1
                print(f'  {entry}: FAILURE')
                traceback.print_exc()
                continue
            if entry == 'verify_checkpoint':
                print(f'  {entry}: verified')
                continue
            problem = canonical_problem(tree)
            bad += bool(problem)
            print(f'  {entry}: ' + (f'NOT CANONICAL: {problem}' if problem else 'loaded'))
    return 1 if bad else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: see the module doc (``--help``)."""
    parser = argparse.ArgumentParser(prog=f'python -m {MODULE}', description=__doc__.splitlines()[0],
                                     allow_abbrev=False)
    parser.add_argument('--inputs', type=int, default=1000, help='how many inputs to generate and load')
    parser.add_argument('--seed', type=int, default=0, help='the run seed (input i depends on it and on i only)')
    parser.add_argument('--jobs', type=int, default=1, help='worker processes')
    parser.add_argument('--timeout', type=float, default=20.0,
                        help=f'seconds per input, all entry points together (plus {SECONDS_PER_MIB} per MiB of it)')
    parser.add_argument('--report', help='write the summary as JSON here; failing inputs go to <report>-failures/')
    parser.add_argument('--only', help='comma-separated input indices to run instead of 0..inputs-1')
    parser.add_argument('--headroom-mib', type=int, default=1536, help='address space a worker may add (MiB)')
    parser.add_argument('--replay', nargs='+', metavar='FILE', help='load saved inputs here, with tracebacks')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--sabotage', help=argparse.SUPPRESS)  # INDEX:crash|hang,...: tests of the harness
    args = parser.parse_args(argv)
    if args.worker:
        sabotage = dict((int(i), kind) for i, kind in (item.split(':') for item in args.sabotage.split(','))) \
            if args.sabotage else None
        return worker_main(args.headroom_mib * MiB, sabotage)
    if args.replay:
        return replay(args.replay)
    failures = DEFAULT_FAILURES
    if args.report:
        report = Path(args.report)
        failures = report.with_name(report.stem + '-failures')
    indices = [int(i) for i in args.only.split(',')] if args.only else range(args.inputs)
    run = FuzzRun(args.seed, args.jobs, args.timeout, failures, args.headroom_mib * MiB)
    summary = run.run(list(indices))
    print(format_summary(summary))
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(summary, indent=1, default=str))
    return 1 if summary['failures'] or summary['generator_errors'] else 0


if __name__ == '__main__':
    sys.exit(main())
