"""The unpickler every checkpoint load goes through: it builds data and nothing else.

torch's weights-only unpickler refuses what mmengine writes (its message hub, numpy values), and
widening torch's process-wide allowlist to admit them is unsafe twice over: the names are looked up
in state that any other library can change (``safe_globals`` blocks remove entries on exit; a
second object registered under the same name may win), and several numpy reconstructors are
memory-unsafe when the file chooses their arguments (an object dtype with its flags cleared makes
``multiarray.scalar`` dereference 8 bytes of the file).

So :class:`CheckpointUnpickler` owns its table. It is Python's own pure-Python unpickler with every
opcode that resolves a name, calls, instantiates or sets state replaced:

- names resolve only through :data:`ALLOWED` (built once, immutable): what torch itself allows for
  tensors, plus narrow stand-ins for the few things mmengine writes (measured on seg, pose, det and
  cls runs; listed in :func:`mmengine_globals`);
- REDUCE calls only those callables, NEWOBJ instantiates only those classes;
- BUILD sets state only on tensors, parameters and ordered dicts (as torch does) and on our numpy and
  ``HistoryBuffer`` stand-ins, each checking the state first;
- the opcodes torch never writes (INST, OBJ, NEWOBJ_EX, EXT*, protocol-5 buffers) are refused.

It is handed to ``torch.load`` as its ``pickle_module`` (see :mod:`hrnet_mm.checkpoint.loading`).
"""
import _compat_pickle
import codecs
import collections
import pickle
from types import MappingProxyType
from typing import Any, Callable, Dict, Mapping

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = ['ALLOWED', 'CheckpointUnpickler', 'Unpickler', 'load', 'mmengine_globals']

UnpicklingError = pickle.UnpicklingError
# numpy kinds that are plain numbers: bool, signed and unsigned ints, floats, complex.
NUMERIC_KINDS = frozenset('biufc')
# The statistics mmengine's HistoryBuffer defines itself (it registers them lazily, on first init).
BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')
_HISTORY_BUFFER_MODULE = 'mmengine.logging.history_buffer'
_HISTORY_STATE_KEYS = frozenset({'_log_history', '_count_history', 'max_length', 'statistics_methods'})
# What numpy writes as a dtype's BUILD state for a plain number type; only the byte order may vary.
_PLAIN_DTYPE_STATE_TAIL = (None, None, None, -1, -1, 0)


def _numeric_dtype(value: Any, what: str) -> np.dtype:
    if not isinstance(value, np.dtype) or value.kind not in NUMERIC_KINDS or value.hasobject \
            or value.names is not None or value.subdtype is not None:
        raise UnpicklingError(f'{what}: only numeric numpy dtypes are loaded, got {value!r}')
    return value


# ----------------------------------------------------------------------------------- numpy
def numpy_dtype(spec: Any, align: Any = False, copy: Any = True) -> np.dtype:
    """Stands in for ``numpy.dtype(spec, align, copy)``: numeric type codes only (``'f8'``, ``'i8'``)."""
    if not isinstance(spec, str) or not isinstance(align, bool) or not isinstance(copy, bool):
        raise UnpicklingError(f'numpy.dtype{(spec, align, copy)!r}: expected a type code string')
    try:
        # A fresh object (copy): the BUILD that follows sets its byte order in place.
        dtype = np.dtype(spec, align=False, copy=True)
    except TypeError as err:
        raise UnpicklingError(f'numpy.dtype({spec!r}): {err}') from None
    return _numeric_dtype(dtype, f'numpy.dtype({spec!r})')


def numpy_reconstruct(subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
    """Stands in for numpy's ``_reconstruct``: an empty plain ``ndarray`` that BUILD then fills."""
    if subtype is not np.ndarray or shape != (0,) or typecode not in (b'b', 'b'):
        raise UnpicklingError(f'numpy _reconstruct{(subtype, shape, typecode)!r}: only plain ndarrays are loaded')
    return np.ndarray((0,), np.uint8)


def numpy_scalar(dtype: Any, data: Any) -> Any:
    """Stands in for numpy's ``multiarray.scalar``: a numeric scalar from exactly its bytes."""
    dtype = _numeric_dtype(dtype, 'numpy scalar')
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise UnpicklingError(f'numpy scalar of {dtype}: expected {dtype.itemsize} bytes')
    return np.frombuffer(data, dtype=dtype)[0].copy()


def _build_ndarray(array: np.ndarray, state: Any) -> None:
    if not (isinstance(state, tuple) and len(state) == 5):
        raise UnpicklingError('ndarray state must be (version, shape, dtype, fortran, data)')
    version, shape, dtype, fortran, data = state
    dtype = _numeric_dtype(dtype, 'ndarray')
    if version != 1 or not isinstance(fortran, bool) or not isinstance(shape, tuple) \
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise UnpicklingError(f'ndarray state: bad version, shape or order ({version!r}, {shape!r}, {fortran!r})')
    if not isinstance(data, (bytes, bytearray)) or len(data) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise UnpicklingError(f'ndarray of shape {shape} and {dtype}: its data has the wrong size')
    array.__setstate__((version, shape, dtype, fortran, bytes(data)))  # type: ignore[arg-type]


def _build_dtype(dtype: np.dtype, state: Any) -> None:
    if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3 and state[1] in ('<', '>', '|', '=')
            and state[2:] == _PLAIN_DTYPE_STATE_TAIL):
        raise UnpicklingError(f'numpy dtype state {state!r} is not that of a plain numeric dtype')
    dtype.__setstate__(state)  # type: ignore[attr-defined]


def codecs_encode(text: Any, encoding: Any = 'utf-8') -> bytes:
    """Stands in for ``_codecs.encode``, which protocol-2 pickles use for bytes: latin-1 text only."""
    if not isinstance(text, str) or encoding not in ('latin1', 'latin-1'):
        raise UnpicklingError(f'_codecs.encode: only latin-1 text is decoded, got encoding {encoding!r}')
    return codecs.encode(text, 'latin1')


# ------------------------------------------------------------------------------- mmengine
def _statistic_names() -> set:
    return set(BUILTIN_STATISTICS) | set(HistoryBuffer._statistics_methods)


def _statistic(name: str) -> Callable:
    method = HistoryBuffer._statistics_methods.get(name) or vars(HistoryBuffer).get(name)
    if name not in _statistic_names() or not callable(method):
        raise UnpicklingError(f'HistoryBuffer has no statistics method {name!r}')
    return method


def history_buffer_statistic(owner: Any, name: Any) -> Callable:
    """Stands in for ``getattr``, which pickles use for methods: ``HistoryBuffer.<statistic>`` only."""
    if owner in (HistoryBuffer, CheckedHistoryBuffer) and isinstance(name, str) and name in _statistic_names():
        return _statistic(name)
    shown = getattr(owner, '__name__', type(owner).__name__)
    raise UnpicklingError(f'refusing getattr({shown}, {name!r}) while loading a checkpoint: only '
                          'HistoryBuffer statistics methods may be looked up this way')


class CheckedHistoryBuffer(HistoryBuffer):
    """Unpickling stand-in for ``HistoryBuffer``: checks the state, then becomes a ``HistoryBuffer``.

    ``HistoryBuffer.__setstate__`` merges the file's ``statistics_methods`` into a registry shared by
    the whole process, so only the genuine methods may appear there.
    """

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not set(state) <= _HISTORY_STATE_KEYS:
            raise UnpicklingError(f'HistoryBuffer state must be a dict with keys {sorted(_HISTORY_STATE_KEYS)}')
        for key in ('_log_history', '_count_history'):
            value = state.get(key, np.zeros(0))
            if not isinstance(value, np.ndarray) or value.ndim != 1:
                raise UnpicklingError(f'HistoryBuffer {key} must be a 1-d numeric array')
            _numeric_dtype(value.dtype, f'HistoryBuffer {key}')
        length = state.get('max_length', 1)
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise UnpicklingError(f'HistoryBuffer max_length must be a positive int, got {length!r}')
        methods = state.get('statistics_methods', {})
        if not isinstance(methods, dict):
            raise UnpicklingError('HistoryBuffer statistics_methods must be a dict')
        for name, method in methods.items():
            if not isinstance(name, str) or name not in _statistic_names() or method is not _statistic(name):
                raise UnpicklingError(f'HistoryBuffer statistics_methods[{name!r}] is not a '
                                      'HistoryBuffer statistics method')
        self.__class__ = HistoryBuffer
        HistoryBuffer.__setstate__(self, state)


# ---------------------------------------------------------------------------------- table
def _torch_globals() -> Dict[str, Any]:
    """torch's own allowlist for tensors, storages, dtypes and devices (what ``torch.save`` writes)."""
    from torch import _weights_only_unpickler
    table = dict(_weights_only_unpickler._get_allowed_globals())
    table['_codecs.encode'] = codecs_encode  # torch allows any codec; latin-1 is all pickles need
    return table


def mmengine_globals() -> Dict[str, Any]:
    """What mmengine runs write beyond torch's own objects, each mapped to its narrow stand-in.

    Measured on the checkpoints of seg, pose, det and cls training runs (``tests/test_checkpoint``):
    numpy scalars, arrays and dtypes of numeric types (the message hub's history and its runtime
    values), and ``HistoryBuffer`` with its statistics methods.
    """
    table: Dict[str, Any] = {}
    for package in ('numpy.core', 'numpy._core'):  # files saved under numpy 1 or numpy 2
        table[f'{package}.multiarray._reconstruct'] = numpy_reconstruct
        table[f'{package}.multiarray.scalar'] = numpy_scalar
    table['numpy.dtype'] = numpy_dtype
    table['numpy.ndarray'] = np.ndarray
    table[f'{_HISTORY_BUFFER_MODULE}.HistoryBuffer'] = CheckedHistoryBuffer
    table['builtins.getattr'] = history_buffer_statistic
    for name in BUILTIN_STATISTICS:  # protocol >= 4 names methods directly
        table[f'{_HISTORY_BUFFER_MODULE}.HistoryBuffer.{name}'] = getattr(HistoryBuffer, name)
    return table


def _allowed() -> Mapping[str, Any]:
    return MappingProxyType({**_torch_globals(), **mmengine_globals()})


ALLOWED: Mapping[str, Any] = _allowed()
# What REDUCE may call and NEWOBJ may instantiate; numpy.ndarray is only a marker for _reconstruct.
_CALLABLE_IDS = frozenset(id(v) for k, v in ALLOWED.items() if callable(v) and k != 'numpy.ndarray'
                          and not k.startswith(f'{_HISTORY_BUFFER_MODULE}.HistoryBuffer.'))
_NEWOBJ_CLASSES = (CheckedHistoryBuffer, torch.nn.Parameter, collections.OrderedDict)
_DICTS = (dict, collections.OrderedDict, collections.Counter)


# ------------------------------------------------------------------------------ unpickler
# Python's pure-Python unpickler: its opcodes are methods in a table we can replace (typeshed
# describes only the C one).
_PurePythonUnpickler: Any = pickle._Unpickler  # type: ignore[attr-defined]


class CheckpointUnpickler(_PurePythonUnpickler):
    """Python's pure-Python unpickler with every opcode that reaches code replaced (see module doc)."""

    dispatch: Dict[int, Callable] = dict(_PurePythonUnpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2 names, as pickle maps them
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        module = {'torch.tensor': 'torch._tensor'}.get(module, module)
        try:
            return ALLOWED[f'{module}.{name}']
        except KeyError:
            raise UnpicklingError(f'refusing global {module}.{name}: not something a checkpoint holds '
                                  '(tensors, numbers, strings, numpy numbers, mmengine log buffers)') from None

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if id(func) not in _CALLABLE_IDS or not isinstance(args, tuple):
            raise UnpicklingError(f'refusing to call {getattr(func, "__name__", type(func).__name__)} '
                                  'while loading a checkpoint')
        self.stack[-1] = func(*args)

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        if cls not in _NEWOBJ_CLASSES or not isinstance(args, tuple):
            raise UnpicklingError(f'refusing to create a {getattr(cls, "__name__", cls)!r} while loading a checkpoint')
        self.append(torch.nn.Parameter(*args) if cls is torch.nn.Parameter else cls.__new__(cls, *args))

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        kind = type(inst)
        if kind is torch.Tensor and isinstance(state, tuple):  # legacy format
            inst.set_(*state)
        elif kind is torch.nn.Parameter:
            inst.__setstate__(state)
        elif kind is collections.OrderedDict and isinstance(state, dict) \
                and all(isinstance(k, str) and not k.startswith('__') for k in state):
            inst.__dict__.update(state)  # a state dict's _metadata
        elif kind is CheckedHistoryBuffer:
            inst.__setstate__(state)
        elif kind is np.ndarray:
            _build_ndarray(inst, state)
        elif isinstance(inst, np.dtype):
            _build_dtype(inst, state)
        else:
            raise UnpicklingError(f'refusing to set the state of a {kind.__name__} while loading a checkpoint')

    def _check_target(self, opcode: str, accepted: tuple, marked: bool) -> None:
        """The object an APPEND/SETITEM-like opcode writes into must be a plain container."""
        if marked:  # the target sits below the MARK
            target = self.metastack[-1][-1] if self.metastack and self.metastack[-1] else None
        else:
            target = self.stack[-2] if opcode == 'APPEND' else self.stack[-3]
        if type(target) not in accepted:
            raise UnpicklingError(f'{opcode} into a {type(target).__name__} while loading a checkpoint')

    def load_appends(self) -> None:
        self._check_target('APPENDS', (list,), marked=True)
        super().load_appends()

    def load_append(self) -> None:
        self._check_target('APPEND', (list,), marked=False)
        super().load_append()

    def load_setitem(self) -> None:
        self._check_target('SETITEM', _DICTS, marked=False)
        super().load_setitem()

    def load_setitems(self) -> None:
        self._check_target('SETITEMS', _DICTS, marked=True)
        super().load_setitems()

    def load_additems(self) -> None:
        self._check_target('ADDITEMS', (set,), marked=True)
        super().load_additems()

    def refuse(self) -> None:
        raise UnpicklingError('refusing a pickle opcode that torch.save never writes')

    for _opcode, _handler in ((pickle.REDUCE, load_reduce), (pickle.NEWOBJ, load_newobj),
                              (pickle.BUILD, load_build), (pickle.APPENDS, load_appends),
                              (pickle.APPEND, load_append), (pickle.SETITEM, load_setitem),
                              (pickle.SETITEMS, load_setitems), (pickle.ADDITEMS, load_additems)):
        dispatch[_opcode[0]] = _handler
    for _opcode in (pickle.INST, pickle.OBJ, pickle.NEWOBJ_EX, pickle.EXT1, pickle.EXT2, pickle.EXT4,
                    pickle.NEXT_BUFFER, pickle.READONLY_BUFFER, pickle.PERSID):
        dispatch[_opcode[0]] = refuse
    del _opcode, _handler


# torch.load(pickle_module=...) expects a module with Unpickler and load.
Unpickler = CheckpointUnpickler


def load(file: Any, **kwargs: Any) -> Any:
    """``pickle.load`` with :class:`CheckpointUnpickler` (torch's legacy format reads headers with it)."""
    return CheckpointUnpickler(file, **kwargs).load()

