"""What ``torch.load(weights_only=True)`` may build from an mmengine checkpoint, and nothing more.

mmengine writes its message hub (``HistoryBuffer`` objects) and numpy values into checkpoints,
which torch's weights-only unpickler refuses. Allowlisting them naively is a hole: pickle refers
to ``HistoryBuffer.min`` as ``getattr(HistoryBuffer, 'min')``, and a process-wide
``builtins.getattr`` hands a crafted file the builtins module, ``exec`` and any module's globals.

So every global we allow is either inert data (numpy arrays, scalars, dtypes) or a narrow
reconstructor registered under the name the pickle uses (torch looks globals up by that name):

- ``builtins.getattr`` -> :func:`history_buffer_statistic`: only ``HistoryBuffer``'s own
  statistics methods (``min``, ``max``, ``current``, ``mean`` and registered ones).
- ``mmengine.logging.history_buffer.HistoryBuffer`` -> :class:`CheckedHistoryBuffer`, which checks
  the restored state before it becomes a plain ``HistoryBuffer``.
"""
import importlib
import pickle
from typing import Any, Callable, Dict, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

SafeGlobal = Union[Callable, Tuple[Callable, str]]
# The statistics mmengine's HistoryBuffer defines itself (it registers them lazily, on first init).
BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')
_HISTORY_BUFFER_NAME = 'mmengine.logging.history_buffer.HistoryBuffer'
_STATE_KEYS = {'_log_history', '_count_history', 'max_length', 'statistics_methods'}


def _statistic_names() -> set:
    return set(BUILTIN_STATISTICS) | set(HistoryBuffer._statistics_methods)


def history_buffer_statistic(owner: Any, name: Any) -> Callable:
    """Stands in for ``getattr`` while unpickling: resolves ``HistoryBuffer.<statistic>`` only.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    # The pickle names the class, which resolves to our stand-in; both mean HistoryBuffer.
    if owner in (HistoryBuffer, CheckedHistoryBuffer) and isinstance(name, str) and name in _statistic_names():
        method = HistoryBuffer._statistics_methods.get(name) or vars(HistoryBuffer).get(name)
        if callable(method):
            return method
    shown = 'getattr' if owner is history_buffer_statistic else getattr(owner, '__name__', type(owner).__name__)
    raise pickle.UnpicklingError(f'refusing getattr({shown}, {name!r}) while loading a checkpoint: only '
                                 'HistoryBuffer statistics methods may be looked up this way')


class CheckedHistoryBuffer(HistoryBuffer):
    """Unpickling stand-in for ``HistoryBuffer``: validates the state, then becomes a ``HistoryBuffer``.

    ``HistoryBuffer.__setstate__`` merges the file's ``statistics_methods`` into a class-level
    registry shared by the whole process, so only the genuine methods may appear there.
    """

    def __init__(self, *args, **kwargs):  # a pickle that calls the class (REDUCE) instead of NEWOBJ
        super().__init__(*args, **kwargs)
        self.__class__ = HistoryBuffer

    def __setstate__(self, state: Dict[str, Any]) -> None:
        if not isinstance(state, dict) or not set(state) <= _STATE_KEYS:
            raise pickle.UnpicklingError(f'HistoryBuffer state must be a dict with keys {sorted(_STATE_KEYS)}')
        methods = state.get('statistics_methods', {})
        if not isinstance(methods, dict):
            raise pickle.UnpicklingError('HistoryBuffer statistics_methods must be a dict')
        for name, method in methods.items():
            if name not in _statistic_names() or method is not history_buffer_statistic(HistoryBuffer, name):
                raise pickle.UnpicklingError(f'HistoryBuffer statistics_methods[{name!r}] is not a '
                                             'HistoryBuffer statistics method')
        self.__class__ = HistoryBuffer
        HistoryBuffer.__setstate__(self, state)


def _numpy_globals() -> List[SafeGlobal]:
    """numpy's array / scalar / dtype reconstruction, under numpy 1 and numpy 2 module names."""
    multiarray = importlib.import_module('numpy._core.multiarray' if hasattr(np, '_core') else 'numpy.core.multiarray')
    found: List[SafeGlobal] = [np.ndarray, np.dtype]
    for package in ('numpy.core', 'numpy._core'):  # files saved under either numpy major version
        found += [(multiarray._reconstruct, f'{package}.multiarray._reconstruct'),
                  (multiarray.scalar, f'{package}.multiarray.scalar')]
    dtypes = getattr(np, 'dtypes', None)  # numpy >= 1.25: one dtype class per dtype
    if dtypes is not None:
        found += [cls for name in dir(dtypes)
                  if isinstance(cls := getattr(dtypes, name), type) and issubclass(cls, np.dtype)]
    return found


def mmengine_safe_globals() -> List[SafeGlobal]:
    """Everything we allowlist: numpy data types and the two narrow reconstructors.

    Returns:
        list: Globals and ``(reconstructor, pickled name)`` pairs for ``torch.serialization.add_safe_globals``.
    """
    return _numpy_globals() + [
        (history_buffer_statistic, 'builtins.getattr'),
        (CheckedHistoryBuffer, _HISTORY_BUFFER_NAME),
    ]


def register_safe_globals() -> None:
    """Allowlist mmengine's checkpoint contents for ``torch.load(weights_only=True)`` (torch >= 2.4)."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:
        add(mmengine_safe_globals())
