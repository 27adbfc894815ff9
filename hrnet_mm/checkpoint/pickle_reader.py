"""Reads the pickle inside a checkpoint as data: nothing the file names is ever imported or called.

Python's unpickler resolves the names a pickle gives (``GLOBAL``) to live objects and calls them
(``REDUCE``), then lets the objects it built keep whatever state the file gave them. Refusing
dangerous names is therefore never the whole story: what is accepted still carries the file's
behaviour. :class:`PickleReader` is a small pickle machine of our own instead:

- a name stays a :class:`Symbol` (a string); it is never imported;
- ``REDUCE`` / ``NEWOBJ`` / ``BUILD`` with a symbol run *our* reconstructor for that name
  (:data:`RECONSTRUCTORS`), which checks its arguments and returns plain data or a pending record
  (a tensor's storage, offset, size and stride; a numpy array; a ``HistoryBuffer``'s state);
- dict keys must be strings or small ints, every container and string is bounded, and every
  allocation is charged to the load's :class:`~hrnet_mm.checkpoint.bounds.Budget` first;
- :func:`canonical` then copies the result into a fresh tree of plain types, materialising tensors
  over storages read by the archive (:mod:`hrnet_mm.checkpoint.archive`): dict, OrderedDict (its
  ``_metadata`` only), Counter, list, tuple, str, bytes, int, float, bool, None, dense CPU-strided
  tensors, numeric numpy arrays and scalars, and ``HistoryBuffer`` built through its constructor.

Only the opcodes of binary pickles (protocols 2-5, what ``torch.save`` writes) are read.
"""
import collections
import struct
from typing import Any, BinaryIO, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from .bounds import Budget

# Charged per object on top of its payload: roughly what CPython spends on one (measured with
# floods of each kind: a dict or memo entry with its key ~100 bytes (more while the table grows), a value made and
# pushed ~40, a list slot 8).
_OBJECT = 64
_SLOT = 16
_PUSH = 40
_DICT_ENTRY = 160
_NUMERIC_KINDS = frozenset('biufc')
_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})
_HISTORY_BUFFER = 'mmengine.logging.history_buffer.HistoryBuffer'
_HISTORY_STATE = frozenset({'_log_history', '_count_history', 'max_length', 'statistics_methods'})


class Refused(Exception):
    """Raised inside the reader for a pickle that asks for something it does not build."""


class Symbol:
    """A name a pickle gave (``module.qualname``); only ever compared, never imported."""

    __slots__ = ('name',)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


class StorageRef:
    """A storage the pickle points to: read lazily, by key, from the archive."""

    __slots__ = ('key', 'dtype', 'nbytes', 'location', 'view')

    def __init__(self, key: str, dtype: torch.dtype, nbytes: int, location: str,
                 view: Optional[Tuple[int, int]] = None) -> None:
        self.key, self.dtype, self.nbytes, self.location, self.view = key, dtype, nbytes, location, view


class TensorSpec:
    """A dense tensor to build: a storage and a view into it, checked to lie within it."""

    __slots__ = ('storage', 'dtype', 'offset', 'size', 'stride')

    def __init__(self, storage: StorageRef, dtype: torch.dtype, offset: int, size: Tuple[int, ...],
                 stride: Tuple[int, ...]) -> None:
        self.storage, self.dtype, self.offset, self.size, self.stride = storage, dtype, offset, size, stride


class _Pending:
    """An object made by NEWOBJ / REDUCE that its BUILD completes (pickle memoizes it in between)."""

    __slots__ = ('kind', 'value')

    def __init__(self, kind: str) -> None:
        self.kind: str = kind
        self.value: Any = None


# ------------------------------------------------------------------------------ dtypes
_STORAGE_DTYPES = {
    'DoubleStorage': 'float64', 'FloatStorage': 'float32', 'HalfStorage': 'float16', 'BFloat16Storage': 'bfloat16',
    'LongStorage': 'int64', 'IntStorage': 'int32', 'ShortStorage': 'int16', 'CharStorage': 'int8',
    'ByteStorage': 'uint8', 'BoolStorage': 'bool', 'ComplexDoubleStorage': 'complex128',
    'ComplexFloatStorage': 'complex64', 'UntypedStorage': 'uint8'}
# Dense numeric dtypes a tensor may have (those this torch defines).
_TENSOR_DTYPE_NAMES = ('float64', 'float32', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8',
                       'bool', 'complex128', 'complex64', 'uint16', 'uint32', 'uint64', 'float8_e4m3fn',
                       'float8_e5m2', 'float8_e4m3fnuz', 'float8_e5m2fnuz')
TENSOR_DTYPES: Dict[str, torch.dtype] = {
    f'torch.{n}': getattr(torch, n) for n in _TENSOR_DTYPE_NAMES if isinstance(getattr(torch, n, None), torch.dtype)}
STORAGE_DTYPES: Dict[str, torch.dtype] = {
    f'{module}.{name}': getattr(torch, dtype) for name, dtype in _STORAGE_DTYPES.items()
    for module in ('torch', 'torch.cuda')}
STORAGE_DTYPES['torch.storage.UntypedStorage'] = torch.uint8


def storage_dtype(symbol: Any) -> torch.dtype:
    """The dtype a pickled storage type (``torch.FloatStorage``, ``torch.UntypedStorage``) stands for."""
    if not isinstance(symbol, Symbol) or symbol.name not in STORAGE_DTYPES:
        raise Refused(f'a storage of type {symbol!r}: only dense numeric storages are loaded')
    return STORAGE_DTYPES[symbol.name]


def _int(value: Any, what: str, low: int = 0, high: int = 1 << 62) -> int:
    if type(value) is not int or not low <= value < high:
        raise Refused(f'{what} must be an int in [{low}, {high}), got a {type(value).__name__}')
    return value


def _ints(value: Any, what: str, max_dims: int) -> Tuple[int, ...]:
    if type(value) not in (tuple, list) or len(value) > max_dims:
        raise Refused(f'{what} must be a tuple of at most {max_dims} ints')
    return tuple(_int(v, what) for v in value)


def _numel(size: Tuple[int, ...]) -> int:
    total = 1
    for n in size:
        total *= n
    return total


# ------------------------------------------------------------------------ reconstructors
def _tensor(reader: 'PickleReader', storage: Any, offset: Any, size: Any, stride: Any,
            dtype: Optional[torch.dtype] = None) -> TensorSpec:
    if not isinstance(storage, StorageRef):
        raise Refused('a tensor over something that is not a storage of this file')
    dims = reader.budget.bounds.max_dims
    offset, size, stride = _int(offset, 'storage offset'), _ints(size, 'size', dims), _ints(stride, 'stride', dims)
    dtype = dtype or storage.dtype
    if len(size) != len(stride):
        raise Refused('a tensor whose size and stride differ in length')
    itemsize = dtype.itemsize
    capacity = storage.nbytes // itemsize
    numel = _numel(size)
    if numel:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= capacity:
            raise reader.budget.refuse('tensor views within their storage', f'a tensor of size {size} and stride '
                                       f'{stride} at offset {offset} reaches element {last} of a storage of {capacity}')
    reader.budget.charge(numel * itemsize + _OBJECT, f'a tensor of size {size}')
    return TensorSpec(storage, dtype, offset, size, stride)


def _rebuild_tensor_v2(reader, storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    _check_tensor_extras(hooks, metadata)
    return _tensor(reader, storage, offset, size, stride)


def _rebuild_tensor_v3(reader, storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    _check_tensor_extras(hooks, metadata)
    if not isinstance(dtype, Symbol) or dtype.name not in TENSOR_DTYPES:
        raise Refused(f'a tensor of dtype {dtype!r}: only dense numeric dtypes are loaded')
    return _tensor(reader, storage, offset, size, stride, TENSOR_DTYPES[dtype.name])


def _rebuild_tensor(reader, storage, offset, size, stride):
    return _tensor(reader, storage, offset, size, stride)


def _check_tensor_extras(hooks: Any, metadata: Any) -> None:
    if hooks is not None and not (type(hooks) in (dict, collections.OrderedDict) and not hooks):
        raise Refused('a tensor with backward hooks')
    # conj / neg bits make a lazy view, not weights
    if metadata is not None and not (type(metadata) is dict and not any(metadata.values())):
        raise Refused('a tensor with conjugate or negative bits set')


def _parameter(reader, data, requires_grad=False, hooks=None, state=None):
    # A parameter loads as its data: the flag and any attributes the file gives it are not kept.
    if not isinstance(data, TensorSpec):
        raise Refused('a parameter whose data is not a tensor')
    _check_tensor_extras(hooks, None)
    return data


def _from_type(reader, func, new_type, args, state):
    # How torch pickles a tensor carrying attributes: the tensor is kept, the attributes are not.
    if not isinstance(new_type, Symbol) or new_type.name not in ('torch.Tensor', 'torch._tensor.Tensor',
                                                                   'torch.nn.parameter.Parameter'):
        raise Refused(f'a tensor subclass {new_type!r}')
    if not isinstance(func, Symbol) or func.name not in _TENSOR_REBUILDS or type(args) is not tuple:
        raise Refused(f'a tensor rebuilt by {func!r}')
    return reader.call(func, args)


def _ordered_dict(reader, *args):
    if args:
        raise Refused('OrderedDict with arguments')
    reader.budget.charge(_OBJECT, 'an OrderedDict')
    return collections.OrderedDict()


def _counter(reader, *args):
    if len(args) > 1 or (args and type(args[0]) is not dict):
        raise Refused('Counter of something other than a dict')
    reader.budget.charge(_OBJECT, 'a Counter')
    return collections.Counter(args[0] if args else {})


def _empty_bytes(reader, *args):
    # Protocol-2 pickles write b'' as bytes() (an empty numpy array's data, for one).
    if args:
        raise Refused('bytes() with arguments')
    return b''


def _size(reader, values=()):
    return _ints(values, 'torch.Size', reader.budget.bounds.max_dims)


def _encode(reader, text, encoding='latin1'):
    if type(text) is not str or encoding not in ('latin1', 'latin-1'):
        raise Refused('_codecs.encode of something other than latin-1 text')
    try:
        data = text.encode('latin1')
    except UnicodeEncodeError:
        raise Refused('_codecs.encode of text outside latin-1') from None
    reader.budget.charge(len(data) + _OBJECT, 'bytes')
    return data


def _statistic(reader, owner, name):
    # Pickles name methods as getattr(class, name): only HistoryBuffer's own statistics.
    if not isinstance(owner, Symbol) or owner.name != _HISTORY_BUFFER or type(name) is not str \
            or name not in _STATISTICS:
        raise Refused(f'getattr({owner!r}, {name if type(name) is str else type(name).__name__!r})')
    return Symbol(f'{_HISTORY_BUFFER}.{name}')


def _numeric_dtype(value: Any) -> np.dtype:
    if isinstance(value, _Pending) and value.kind == 'dtype':
        value = value.value
    if not isinstance(value, np.dtype) or value.kind not in _NUMERIC_KINDS or value.hasobject \
            or value.names is not None or value.subdtype is not None:
        raise Refused(f'a numpy dtype that is not numeric ({type(value).__name__})')
    return value


def _np_dtype(reader, spec, align=False, copy=True):
    if type(spec) is not str or len(spec) > 8:
        raise Refused('numpy.dtype of something other than a type code')
    try:
        dtype = np.dtype(spec)
    except TypeError:
        raise Refused(f'numpy.dtype({spec!r})') from None
    pending = _Pending('dtype')
    pending.value = _numeric_dtype(dtype)
    return pending


def _np_reconstruct(reader, subtype, shape, typecode):
    if not isinstance(subtype, Symbol) or subtype.name not in _NDARRAY or shape != (0,) or typecode not in (b'b', 'b'):
        raise Refused('numpy _reconstruct of something other than a plain ndarray')
    return _Pending('ndarray')


def _np_scalar(reader, dtype, data):
    dtype = _numeric_dtype(dtype)
    if type(data) is not bytes or len(data) != dtype.itemsize:
        raise Refused(f'a numpy scalar of {dtype} without exactly {dtype.itemsize} bytes')
    return np.frombuffer(data, dtype=dtype)[0].copy()


_TENSOR_REBUILDS: Dict[str, Callable[..., Any]] = {
    'torch._utils._rebuild_tensor_v2': _rebuild_tensor_v2,
    'torch._utils._rebuild_tensor_v3': _rebuild_tensor_v3,
    'torch._utils._rebuild_tensor': _rebuild_tensor,
}
_NDARRAY = ('numpy.ndarray',)
RECONSTRUCTORS: Dict[str, Callable[..., Any]] = {
    **_TENSOR_REBUILDS,
    'torch._utils._rebuild_parameter': _parameter,
    'torch._utils._rebuild_parameter_with_state': _parameter,
    'torch._tensor._rebuild_from_type_v2': _from_type,
    'collections.OrderedDict': _ordered_dict,
    'collections.Counter': _counter,
    'torch.Size': _size,
    '_codecs.encode': _encode,
    'builtins.bytes': _empty_bytes,
    'builtins.getattr': _statistic,
    'numpy.dtype': _np_dtype,
}
for _package in ('numpy.core', 'numpy._core'):  # files saved under numpy 1 or numpy 2
    RECONSTRUCTORS[f'{_package}.multiarray._reconstruct'] = _np_reconstruct
    RECONSTRUCTORS[f'{_package}.multiarray.scalar'] = _np_scalar
# Names a pickle may mention without calling them (arguments of the reconstructors above).
KNOWN_NAMES = frozenset(RECONSTRUCTORS) | frozenset(TENSOR_DTYPES) | frozenset(STORAGE_DTYPES) | frozenset(
    {_HISTORY_BUFFER, 'torch.Tensor', 'torch._tensor.Tensor', 'torch.nn.parameter.Parameter', *_NDARRAY}) | frozenset(
    f'{_HISTORY_BUFFER}.{name}' for name in _STATISTICS)
# Python 2 and renamed modules, as pickle maps them.
_RENAMED = {'__builtin__': 'builtins', 'copy_reg': 'copyreg', 'torch.tensor': 'torch._tensor',
            '_codecs': '_codecs'}


# --------------------------------------------------------------------------------- BUILD
def _build_ndarray(reader: 'PickleReader', pending: _Pending, state: Any) -> None:
    if type(state) is not tuple or len(state) != 5:
        raise Refused('ndarray state must be (version, shape, dtype, fortran, data)')
    version, shape, dtype, fortran, data = state
    dtype = _numeric_dtype(dtype)
    shape = _ints(shape, 'ndarray shape', reader.budget.bounds.max_dims)
    if version != 1 or type(fortran) is not bool:
        raise Refused('ndarray state with a bad version or order')
    if type(data) is not bytes or len(data) != _numel(shape) * dtype.itemsize:
        raise Refused(f'an ndarray of shape {shape} and {dtype} whose data has the wrong size')
    reader.budget.charge(len(data) + _OBJECT, f'an ndarray of shape {shape}')
    pending.value = np.frombuffer(data, dtype=dtype).reshape(shape, order='F' if fortran else 'C').copy()


def _build_dtype(reader: 'PickleReader', pending: _Pending, state: Any) -> None:
    if not (type(state) is tuple and len(state) == 8 and state[0] == 3 and state[1] in ('<', '>', '|', '=')
            and state[2:] == (None, None, None, -1, -1, 0)):
        raise Refused('a numpy dtype state that is not that of a plain numeric dtype')
    pending.value = pending.value.newbyteorder(state[1])


def _build_history_buffer(reader: 'PickleReader', pending: _Pending, state: Any) -> None:
    if type(state) is not dict or not set(state) <= _HISTORY_STATE:
        raise Refused(f'HistoryBuffer state must be a dict with keys {sorted(_HISTORY_STATE)}')
    histories = []
    for key in ('_log_history', '_count_history'):
        value = state.get(key)
        value = value.value if isinstance(value, _Pending) and value.kind == 'ndarray' else value
        if value is None:
            value = np.zeros(0)
        if not isinstance(value, np.ndarray) or value.ndim != 1:
            raise Refused(f'HistoryBuffer {key} must be a 1-d numeric array')
        histories.append(value)
    length = state.get('max_length', 1000000)
    if type(length) is not int or length < 1 or len(histories[0]) != len(histories[1]):
        raise Refused('HistoryBuffer max_length must be a positive int and its histories of one length')
    methods = state.get('statistics_methods', {})
    own = all(type(k) is str and isinstance(v, Symbol) and v.name == f'{_HISTORY_BUFFER}.{k}'
              for k, v in (methods.items() if type(methods) is dict else ()))
    if type(methods) is not dict or not own:
        raise Refused("HistoryBuffer statistics_methods must be HistoryBuffer's own")
    pending.value = (histories[0], histories[1], length)


_BUILDERS = {'ndarray': _build_ndarray, 'dtype': _build_dtype, 'history_buffer': _build_history_buffer}


def _build_ordered_dict(reader: 'PickleReader', target: collections.OrderedDict, state: Any) -> None:
    # What torch writes for a state dict: its _metadata attribute, nothing else.
    if type(state) is tuple and len(state) == 2 and state[1] is None:
        state = state[0]
    if state is None:
        return
    if type(state) is not dict or set(state) - {'_metadata'}:
        raise Refused('an OrderedDict whose state sets attributes other than _metadata')
    if '_metadata' in state:
        reader.metadata[id(target)] = (target, state['_metadata'])


# ----------------------------------------------------------------------------- the machine
class PickleReader:
    """Runs one pickle from ``stream`` and returns its value, built only as the module doc says.

    Args:
        stream: A binary stream positioned at the pickle.
        budget: The load's memory ledger and bounds.
        persistent_load: Turns a persistent id (a tuple) into a :class:`StorageRef`; None: refused.
        size: Bytes of ``stream`` from its position on (lengths in the pickle are checked against it).

    Example:
        >>> import io, pickle
        >>> data = pickle.dumps({'lr': 0.1, 'steps': [1, 2]}, protocol=2)
        >>> PickleReader(io.BytesIO(data), Budget('x', len(data)), size=len(data)).load()
        {'lr': 0.1, 'steps': [1, 2]}
    """

    def __init__(self, stream: BinaryIO, budget: Budget, persistent_load: Optional[Callable] = None,
                 size: int = 1 << 62) -> None:
        self.stream, self.budget, self.persistent_load = stream, budget, persistent_load
        self.remaining = size
        self.stack: List[Any] = []
        self.metastack: List[List[Any]] = []
        self.memo: Dict[int, Any] = {}
        self.metadata: Dict[int, Tuple[collections.OrderedDict, Any]] = {}
        self.bounds = budget.bounds

    # ---------------------------------------------------------------- reading
    def read(self, n: int) -> bytes:
        if n > self.remaining:
            raise Refused(f'the pickle asks for {n} bytes beyond its end')
        data = self.stream.read(n)
        if len(data) != n:
            raise Refused('the pickle is truncated')
        self.remaining -= n
        return data

    def readline(self) -> bytes:
        line = self.stream.readline(min(self.remaining, 4096))
        self.remaining -= len(line)
        if not line.endswith(b'\n'):
            raise Refused('a pickle name longer than 4096 bytes or truncated')
        return line[:-1]

    def text(self, n: int, kind: type) -> Any:
        if n < 0:
            raise Refused('a negative length')
        if n > self.bounds.max_text:
            raise self.budget.refuse('string length', f'a {kind.__name__} of {n:,} bytes (at most '
                                     f'{self.bounds.max_text:,})')
        self.budget.charge(n + _OBJECT, f'a {kind.__name__} of {n:,} bytes')
        data = self.read(n)
        if kind is str:
            try:
                return data.decode('utf-8', 'surrogatepass')
            except UnicodeDecodeError:
                raise Refused('a string that is not UTF-8') from None
        return data

    # ---------------------------------------------------------------- stack
    def push(self, value: Any) -> None:
        if len(self.stack) >= self.bounds.max_items:
            raise self.budget.refuse('container size', f'more than {self.bounds.max_items:,} values on the stack')
        self.budget.used += _PUSH  # the hottest path: charge() only when past the limit, for its error
        if self.budget.used > self.budget.limit:
            self.budget.charge(0, 'the values on the pickle stack')
        self.stack.append(value)

    def pop_mark(self) -> List[Any]:
        if not self.metastack:
            raise Refused('a MARK is missing')
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def top(self, opcode: str) -> Any:
        if not self.stack:
            raise Refused(f'{opcode} on an empty stack')
        return self.stack[-1]

    def pop(self, opcode: str) -> Any:
        self.top(opcode)
        return self.stack.pop()

    def key(self, key: Any) -> Any:
        if type(key) is str or (type(key) is int and -self.bounds.max_int_key <= key < self.bounds.max_int_key):
            return key
        raise self.budget.refuse('key types', f'a dict key of type {type(key).__name__} (keys are strings, or '
                                 f'ints below {self.bounds.max_int_key:,} in size)')

    def grow(self, container: Any, n: int) -> None:
        if len(container) + n > self.bounds.max_items:
            raise self.budget.refuse('container size', f'a container of more than {self.bounds.max_items:,} items')
        self.budget.charge(n * (_DICT_ENTRY if isinstance(container, dict) else _SLOT), 'container entries')

    def new(self, value: Any, n: int = 0) -> Any:
        if n > self.bounds.max_items:
            raise self.budget.refuse('container size', f'a container of more than {self.bounds.max_items:,} items')
        self.budget.charge(_OBJECT + n * _SLOT, f'a {type(value).__name__}')
        return value

    # ---------------------------------------------------------------- calls
    def call(self, func: Any, args: Any) -> Any:
        if not isinstance(func, Symbol) or type(args) is not tuple:
            raise Refused(f'a call of {type(func).__name__}')
        reconstructor = RECONSTRUCTORS.get(func.name)
        if reconstructor is None:
            raise Refused(f'a call of {func.name}')
        try:
            return reconstructor(self, *args)
        except TypeError as err:
            if 'positional argument' in str(err) or 'arguments' in str(err):
                raise Refused(f'{func.name} with {len(args)} arguments') from None
            raise

    def build(self, target: Any, state: Any) -> None:
        if isinstance(target, _Pending):
            if target.value is not None and target.kind != 'dtype':
                raise Refused(f'a second BUILD of a {target.kind}')
            _BUILDERS[target.kind](self, target, state)
        elif type(target) is collections.OrderedDict:
            _build_ordered_dict(self, target, state)
        else:
            raise Refused(f'setting the state of a {type(target).__name__}')

    # ---------------------------------------------------------------- run
    def load(self) -> Any:
        dispatch = _DISPATCH
        read = self.stream.read
        while True:
            if self.remaining < 1:
                raise Refused('the pickle ends without STOP')
            code = read(1)
            self.remaining -= 1
            if not code:
                raise Refused('the pickle is truncated')
            if code == b'.':
                if len(self.stack) != 1 or self.metastack:
                    raise Refused('the pickle does not end with exactly one value')
                return self.stack.pop()
            handler = dispatch.get(code[0])
            if handler is None:
                raise Refused(f'pickle opcode {code!r}, which torch.save never writes')
            handler(self)

    def get(self, index: int) -> None:
        if index not in self.memo:
            raise Refused(f'memo entry {index} is not set')
        self.push(self.memo[index])

    def put(self, index: int) -> None:
        self.budget.charge(_DICT_ENTRY, 'a memo entry')
        self.memo[index] = self.top('PUT')


def _op_proto(r: PickleReader) -> None:
    if r.read(1)[0] > 5:
        raise Refused('pickle protocol above 5')


def _op_frame(r: PickleReader) -> None:
    r.read(8)  # frames only group opcodes; reading through them is the same


def _tuple(r: PickleReader, n: int) -> None:
    if len(r.stack) < n:
        raise Refused(f'a tuple of {n} from a shorter stack')
    items = tuple(r.stack[-n:]) if n else ()
    del r.stack[len(r.stack) - n:]
    r.push(r.new(items, n))


def _op_tuple(r: PickleReader) -> None:
    items = r.pop_mark()
    r.push(r.new(tuple(items), len(items)))


def _op_list(r: PickleReader) -> None:
    items = r.pop_mark()
    r.push(r.new(items, len(items)))


def _set_items(r: PickleReader, target: Any, items: List[Any]) -> None:
    if type(target) not in (dict, collections.OrderedDict) or len(items) % 2:
        raise Refused(f'SETITEMS into a {type(target).__name__}')
    r.grow(target, len(items) // 2)
    for i in range(0, len(items), 2):
        target[r.key(items[i])] = items[i + 1]


def _op_dict(r: PickleReader) -> None:
    items = r.pop_mark()
    target = r.new({})
    _set_items(r, target, items)
    r.push(target)


def _op_setitem(r: PickleReader) -> None:
    value, key = r.pop('SETITEM'), r.pop('SETITEM')
    _set_items(r, r.top('SETITEM'), [key, value])


def _op_setitems(r: PickleReader) -> None:
    items = r.pop_mark()
    _set_items(r, r.top('SETITEMS'), items)


def _append(r: PickleReader, target: Any, items: List[Any]) -> None:
    if type(target) is not list:
        raise Refused(f'APPEND into a {type(target).__name__}')
    r.grow(target, len(items))
    target.extend(items)


def _op_append(r: PickleReader) -> None:
    value = r.pop('APPEND')
    _append(r, r.top('APPEND'), [value])


def _op_appends(r: PickleReader) -> None:
    items = r.pop_mark()
    _append(r, r.top('APPENDS'), items)


def _op_global(r: PickleReader) -> None:
    module = r.readline().decode('ascii', 'replace')
    name = r.readline().decode('ascii', 'replace')
    r.push(_symbol(module, name))


def _op_stack_global(r: PickleReader) -> None:
    name, module = r.pop('STACK_GLOBAL'), r.pop('STACK_GLOBAL')
    if type(module) is not str or type(name) is not str:
        raise Refused('STACK_GLOBAL of something other than two strings')
    r.push(_symbol(module, name))


def _symbol(module: str, name: str) -> Symbol:
    full = f'{_RENAMED.get(module, module)}.{name}'
    if full not in KNOWN_NAMES:
        raise Refused(f'global {module}.{name}')
    return Symbol(full)


def _op_reduce(r: PickleReader) -> None:
    args = r.pop('REDUCE')
    func = r.pop('REDUCE')
    r.push(r.call(func, args))


def _op_newobj(r: PickleReader) -> None:
    args, cls = r.pop('NEWOBJ'), r.pop('NEWOBJ')
    if not isinstance(cls, Symbol) or args != ():
        raise Refused(f'creating a {cls!r}')
    if cls.name == _HISTORY_BUFFER:
        r.budget.charge(_OBJECT, 'a HistoryBuffer')
        r.push(_Pending('history_buffer'))
    elif cls.name in ('collections.OrderedDict', 'collections.Counter'):
        r.push(r.call(cls, ()))
    else:
        raise Refused(f'creating a {cls.name}')


def _op_build(r: PickleReader) -> None:
    state = r.pop('BUILD')
    r.build(r.top('BUILD'), state)


def _op_binpersid(r: PickleReader) -> None:
    pid = r.pop('BINPERSID')
    if r.persistent_load is None:
        raise Refused('a persistent id outside a torch archive')
    r.push(r.persistent_load(pid))


def _op_pop(r: PickleReader) -> None:
    if r.stack:
        r.stack.pop()
    else:
        r.pop_mark()


def _op_mark(r: PickleReader) -> None:
    if len(r.metastack) >= r.bounds.max_items:
        raise r.budget.refuse('container size', 'too many open MARKs')
    r.budget.charge(_OBJECT, 'a MARK')
    r.metastack.append(r.stack)
    r.stack = []


def _long(r: PickleReader, n: int) -> None:
    if n < 0:
        raise Refused('a negative length')
    r.budget.charge(n + _OBJECT, 'an int')
    r.push(int.from_bytes(r.read(n), 'little', signed=True) if n else 0)


def _length(r: PickleReader, fmt: str) -> int:
    size = struct.calcsize(fmt)
    return struct.unpack(fmt, r.read(size))[0]


def _op_dup(r: PickleReader) -> None:
    r.push(r.top('DUP'))


_OPS: Dict[bytes, Callable[[PickleReader], None]] = {
    b'\x80': _op_proto, b'\x95': _op_frame,
    b'(': _op_mark, b'0': _op_pop, b'1': lambda r: None if r.pop_mark() else None, b'2': _op_dup,
    b'N': lambda r: r.push(None), b'\x88': lambda r: r.push(True), b'\x89': lambda r: r.push(False),
    b'J': lambda r: r.push(_length(r, '<i')), b'K': lambda r: r.push(r.read(1)[0]),
    b'M': lambda r: r.push(_length(r, '<H')),
    b'\x8a': lambda r: _long(r, r.read(1)[0]), b'\x8b': lambda r: _long(r, _length(r, '<i')),
    b'G': lambda r: r.push(_length(r, '>d')),
    b'X': lambda r: r.push(r.text(_length(r, '<I'), str)),
    b'\x8c': lambda r: r.push(r.text(r.read(1)[0], str)),
    b'\x8d': lambda r: r.push(r.text(_length(r, '<Q'), str)),
    b'B': lambda r: r.push(r.text(_length(r, '<I'), bytes)),
    b'C': lambda r: r.push(r.text(r.read(1)[0], bytes)),
    b'\x8e': lambda r: r.push(r.text(_length(r, '<Q'), bytes)),
    # protocol-2 pickles of Python 2 str: ASCII text as torch's legacy loader reads it
    b'T': lambda r: r.push(_ascii(r.text(_length(r, '<i'), bytes))),
    b'U': lambda r: r.push(_ascii(r.text(r.read(1)[0], bytes))),
    b']': lambda r: r.push(r.new([])), b'}': lambda r: r.push(r.new({})), b')': lambda r: r.push(()),
    b'l': _op_list, b't': _op_tuple, b'd': _op_dict,
    b'\x85': lambda r: _tuple(r, 1), b'\x86': lambda r: _tuple(r, 2), b'\x87': lambda r: _tuple(r, 3),
    b'a': _op_append, b'e': _op_appends, b's': _op_setitem, b'u': _op_setitems,
    b'h': lambda r: r.get(r.read(1)[0]), b'j': lambda r: r.get(_length(r, '<I')),
    b'q': lambda r: r.put(r.read(1)[0]), b'r': lambda r: r.put(_length(r, '<I')),
    b'\x94': lambda r: r.put(len(r.memo)),
    b'c': _op_global, b'\x93': _op_stack_global,
    b'R': _op_reduce, b'\x81': _op_newobj, b'b': _op_build, b'Q': _op_binpersid,
}
_DISPATCH = {code[0]: handler for code, handler in _OPS.items()}


def _ascii(data: bytes) -> str:
    try:
        return data.decode('ascii')
    except UnicodeDecodeError:
        raise Refused('a Python 2 string that is not ASCII') from None


# ---------------------------------------------------------------------------- canonical
_CONTAINERS = (list, tuple, dict, collections.OrderedDict, collections.Counter)


class _Canonical:
    """Copies the reader's result into a fresh tree of plain types (see the module doc)."""

    def __init__(self, reader: PickleReader, tensor: Callable[[TensorSpec], torch.Tensor]) -> None:
        self.reader, self.budget, self.tensor = reader, reader.budget, tensor
        self.tensors: Dict[int, torch.Tensor] = {}
        self.max_depth = reader.bounds.max_depth

    def copy(self, node: Any, depth: int) -> Any:
        if depth > self.max_depth:
            raise self.budget.refuse('nesting depth', f'containers nested more than {self.max_depth} deep')
        kind = type(node)
        if node is None or kind in (str, bytes, int, float, bool):
            return node
        self.budget.charge(_OBJECT + _SLOT * (len(node) if kind in _CONTAINERS else 0), 'the loaded tree')
        if kind is list:
            return [self.copy(v, depth + 1) for v in node]
        if kind is tuple:
            return tuple(self.copy(v, depth + 1) for v in node)
        if kind in (dict, collections.OrderedDict, collections.Counter):
            out: Any = kind()
            for k, v in node.items():
                out[k] = self.copy(v, depth + 1)
            if kind is collections.OrderedDict and id(node) in self.reader.metadata:
                out._metadata = self.copy(self.reader.metadata[id(node)][1], depth + 1)  # type: ignore[attr-defined]
            return out
        if kind is TensorSpec:
            if id(node) not in self.tensors:
                self.tensors[id(node)] = self.tensor(node)
            return self.tensors[id(node)]
        if isinstance(node, np.generic) and node.dtype.kind in _NUMERIC_KINDS:
            return node
        if kind is _Pending and node.value is not None:
            if node.kind == 'ndarray':
                return node.value
            if node.kind == 'history_buffer':
                log, count, length = node.value
                return HistoryBuffer(log, count, length)
        what = node.kind if kind is _Pending else (node.name if kind is Symbol else kind.__name__)
        raise Refused(f'a {what} where data was expected')


def canonical(reader: PickleReader, value: Any, tensor: Callable[[TensorSpec], torch.Tensor]) -> Any:
    """The reader's ``value`` as a fresh tree of plain types, tensors built by ``tensor``."""
    return _Canonical(reader, tensor).copy(value, 0)
