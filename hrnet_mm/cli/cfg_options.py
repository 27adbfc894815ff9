"""Which ``--cfg-options`` keys a config can take: typos end in one line before a stock tool starts.

A key path (``model.backbone.norm_eval``) is walked through the config, after its bases are merged:

* A dict whose ``type`` names a class (resolved through the registries of the config's library, under
  the dict's ``_scope_`` if mmengine stamped one) takes the keys it holds and the keyword arguments of
  that class: those of its ``__init__``, and of its bases' while each ``__init__`` passes ``**kwargs``
  on. A registered function takes its arguments and, with ``**kwargs``, those of the class it is
  annotated to return. A few keys that builders take out before calling the class count as arguments
  too (:data:`BUILDER_KEYS`). An option may change a ``type``; the keys beside it follow the new one.
* The dicts mmengine's runner reads without a ``type`` (``env_cfg``, ``randomness``, the data
  loaders, a loop or optimizer wrapper given without ``type``, ...) take what mmengine reads there
  (:data:`IMPLIED_TYPES`, :data:`RUNNER_DICT_KEYS`). The top level takes the config's keys and those
  the runner and the stock tools read (``load_from``, ``model_wrapper_cfg``, ``compile``, ...).
* Under a key that the config does not hold but may take (a class argument the config leaves at its
  default), nothing can be judged: any path below it is taken.
* Open levels: a dict with no ``type`` elsewhere (``model.test_cfg``, ``data_prefix``), a class that
  takes ``**kwargs``, a ``type`` no registry knows. Taking anything there would let typos through,
  refusing new keys would refuse real ones (``model.test_cfg.stride`` for sliding-window inference),
  so a new key is refused only when it is within a letter or two of one that level knows
  (``default_hooks.checkpoint.max_keep_ckpt`` beside ``max_keep_ckpts``), which is a typo far more
  often than a second, real key.
* Lists are addressed by index, ``a.0.b``, as mmengine merges them; a value that is neither a dict nor
  a list is not walked into (mmengine's merge refuses that in its own words).

A refused key reads ``--cfg-options KEY: no such key; did you mean OTHER?``, ``OTHER`` being the
closest key (difflib) that the walk takes: each wrong part replaced by its closest neighbour, else a key
of the same last name elsewhere in the config (``optimizer.lr`` -> ``optim_wrapper.optimizer.lr``).
"""
import difflib
import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

from hrnet_mm.errors import ConfigError

# At an open level, a new key at least this similar (difflib ratio) to a known one is taken for a typo
# of it: one letter in eight, e.g. max_iter / max_iters (0.94), archh / arch (0.89), but not
# ignore_index / in_index (0.80) nor out_channels / in_channels (0.78), which are both real.
NEAR_MISS = 0.85
SUGGESTION_CUTOFF = 0.6  # difflib's own default for "close"
# A key of the same last name elsewhere: optimizer.lr / optim_wrapper.optimizer.lr is 0.63.
SAME_NAME_CUTOFF = 0.5
ALWAYS_TAKEN = frozenset({'_delete_', '_scope_'})  # mmengine's merge and scope markers, at any level

# Top-level keys that mmengine's Runner (from_cfg, wrap_model, _maybe_compile, ...), mmengine's Config
# and the stock train / test tools read, beyond the arguments of Runner and FlexibleRunner.
TOP_LEVEL_KEYS = frozenset({
    'custom_imports', 'runner_type', 'model_wrapper_cfg', 'sync_bn', 'find_unused_parameters',
    'activation_checkpointing', 'efficient_conv_bn_eval', 'compile', 'tta_model', 'tta_pipeline',
    'preprocess_cfg'})
# What mmengine builds from runner-level dicts given without ``type`` (Runner.build_train_loop and
# the like pick these classes).
IMPLIED_TYPES: Dict[str, Tuple[str, ...]] = {
    'train_cfg': ('EpochBasedTrainLoop', 'IterBasedTrainLoop'),  # by_epoch picks one
    'val_cfg': ('ValLoop',),
    'test_cfg': ('TestLoop',),
    'optim_wrapper': ('OptimWrapper',),
    'log_processor': ('LogProcessor',),
    'visualizer': ('Visualizer',),
    'model_wrapper_cfg': ('MMDistributedDataParallel',),
}
# Keys of runner-level dicts that mmengine takes out itself (with or without a ``type``).
_LOADER_KEYS = frozenset({'num_batch_per_epoch', 'disable_subprocess_warning'})  # Runner.build_dataloader
RUNNER_DICT_KEYS: Dict[str, FrozenSet[str]] = {
    'train_cfg': frozenset({'by_epoch'}),
    'optim_wrapper': frozenset({'optimizer', 'paramwise_cfg', 'constructor'}),  # build_optim_wrapper
    'env_cfg': frozenset({'cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit'}),  # Runner.setup_env
    'env_cfg.mp_cfg': frozenset({'mp_start_method', 'opencv_num_threads'}),
    'auto_scale_lr': frozenset({'enable', 'base_batch_size'}),
    'train_dataloader': _LOADER_KEYS, 'val_dataloader': _LOADER_KEYS, 'test_dataloader': _LOADER_KEYS,
}
# Runner-level dicts with no ``type`` whose keys are all known: DataLoader's arguments, set_randomness's.
CLOSED_RUNNER_DICTS = frozenset({'env_cfg', 'env_cfg.mp_cfg', 'auto_scale_lr', 'randomness', 'train_dataloader',
                                 'val_dataloader', 'test_dataloader'})
# Keys that a registry's builder takes out of a dict before it calls the class (registry name -> keys).
BUILDER_KEYS: Dict[str, FrozenSet[str]] = {
    'hook': frozenset({'priority'}),  # Runner.register_hook
    'parameter scheduler': frozenset({'convert_to_iter_based'}),  # build_scheduler_from_cfg
    'weight initializer': frozenset({'override'}),  # mmengine.model.initialize
}
NORM_KEYS = frozenset({'requires_grad'})  # mmcv's build_norm_layer, for any norm layer type


@dataclass
class Level:
    """What one dict of the config takes, besides the keys it holds.

    Attributes:
        known: The arguments of the class the dict configures and the keys its builder reads.
        closed: No other key is taken; False where that cannot be told (see the module docstring).
        owner: Names the class or reader, for a refusal without a suggestion.
    """

    known: Set[str]
    closed: bool
    owner: str


@dataclass
class Miss:
    """Where a key path leaves what the config takes.

    Attributes:
        depth: Index of the first part that is not taken.
        candidates: The keys that would have been taken there.
        reason: What follows ``no such key`` in the refusal when no suggestion is given.
        in_list: The part addresses a list (an index is wrong; no suggestion is looked for).
    """

    depth: int
    candidates: Set[str]
    reason: str
    in_list: bool = False


def keyword_names(target: Callable, bound: bool = False) -> Tuple[Set[str], bool]:
    """The keyword argument names of ``target``, and whether it takes any other (``**kwargs``).

    Args:
        target: A function, or an unbound ``__init__`` when ``bound`` (its first parameter is dropped).
        bound: Drop the first parameter (``self``).

    Returns:
        (names, takes_any). A callable without a readable signature takes any.
    """
    try:
        parameters = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):  # builtins and extension types may have no signature
        return set(), True
    if bound:
        parameters = parameters[1:]
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return ({p.name for p in parameters if p.kind in named},
            any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters))


def arguments_of(target: Any) -> Tuple[Set[str], bool]:
    """The keyword arguments a config dict of ``type=target`` may hold, and whether any other is taken.

    For a class: its ``__init__``'s, and while that takes ``**kwargs``, those of the next ``__init__``
    up the MRO (what ``super().__init__(**kwargs)`` reaches). For a function with ``**kwargs``: also
    those of the class it is annotated to return (a factory such as ``hrnet_mm.HRNet``'s).

    Example:
        >>> class Head:
        ...     def __init__(self, channels, *, dropout=0.1): ...
        >>> class FCN(Head):
        ...     def __init__(self, num_convs=2, **kwargs): super().__init__(**kwargs)
        >>> sorted(arguments_of(Head)[0]), arguments_of(Head)[1]
        (['channels', 'dropout'], False)
        >>> sorted(arguments_of(FCN)[0]), arguments_of(FCN)[1]
        (['channels', 'dropout', 'num_convs'], True)
    """
    if not inspect.isclass(target):
        names, takes_any = keyword_names(target)
        returned = _return_class(target) if takes_any else None
        if returned is not None:
            names |= arguments_of(returned)[0]
        return names, takes_any
    names = set()
    takes_any = False
    for klass in target.__mro__:
        if klass is object:
            break
        if '__init__' not in vars(klass):
            continue
        own, passes_on = keyword_names(vars(klass)['__init__'], bound=True)
        names |= own
        if not passes_on:
            return names, takes_any
        takes_any = True  # whatever the **kwargs reach, they need not all reach the base
    return names, True  # **kwargs up to object, or no __init__ of its own to read


def _return_class(function: Callable) -> Optional[type]:
    try:
        returned = inspect.signature(function).return_annotation
    except (TypeError, ValueError):
        return None
    return returned if inspect.isclass(returned) else None


def extra_keys(target: Any, registry_name: str) -> FrozenSet[str]:
    """Keys that the builder of ``target`` (found in the registry named ``registry_name``) takes itself."""
    import torch
    keys = BUILDER_KEYS.get(registry_name, frozenset())
    norms = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm)
    if inspect.isclass(target) and issubclass(target, norms):
        keys = keys | NORM_KEYS
    return keys


class KeyChecker:
    """Tells whether ``--cfg-options`` keys exist in a config or are taken by what its dicts configure.

    Args:
        config: The config as plain dicts and lists (``Config.to_dict()``), its bases merged.
        library: The config's library (``default_scope``), whose registries resolve ``type``.
        new_types: ``type`` values that the options themselves set, by the path of their dict
            (``{'model.backbone': 'mmseg.ResNetV1c'}``).
    """

    def __init__(self, config: Dict[str, Any], library: str, new_types: Optional[Dict[str, Any]] = None):
        self.config = config
        self.library = library
        self.new_types = dict(new_types or {})
        self._resolved: Dict[Tuple[Any, Optional[str]], List[Tuple[Any, str]]] = {}

    def problem(self, key: str) -> Optional[str]:
        """Why ``key`` is refused (one line, with the closest key that is taken), or None when it is taken."""
        parts = key.split('.')
        miss = self.walk(parts)
        if miss is None:
            return None
        suggestion = None if miss.in_list else self.suggestion(parts)
        if suggestion is not None:
            return f'--cfg-options {key}: no such key; did you mean {suggestion}?'
        return f'--cfg-options {key}: no such key{miss.reason}'

    def check(self, keys: Iterable[str]) -> None:
        """Raise on the first key that is refused.

        Raises:
            ConfigError: One line naming the key and the closest one that is taken.
        """
        for key in keys:
            message = self.problem(key)
            if message is not None:
                raise ConfigError(message)

    def walk(self, parts: Sequence[str]) -> Optional[Miss]:
        """Follow ``parts`` through the config; None when the path is taken, else where it is not."""
        node: Any = self.config
        for depth, part in enumerate(parts):
            where = '.'.join(parts[:depth])
            if isinstance(node, list):
                indices = {str(i) for i in range(len(node))}
                if part in indices:
                    node = node[int(part)]
                    continue
                if not part.isdigit():
                    return Miss(depth, indices, f'; {where} is a list: address an item by its index, '
                                                f'e.g. {where}.0.{part}', in_list=True)
                count = f'has {len(node)} items (0..{len(node) - 1})' if node else 'is empty'
                return Miss(depth, indices, f'; the list {where} {count}', in_list=True)
            if not isinstance(node, dict):
                return None  # mmengine's merge refuses to descend into a value, in its own words
            if part in node:
                node = node[part]
                continue
            if part in ALWAYS_TAKEN:
                return None
            level = self.level(node, where)
            known = level.known | {str(k) for k in node}
            if part in known:
                return None  # taken, and not in the config: nothing below it can be judged
            if not level.closed and not difflib.get_close_matches(part, known, n=1, cutoff=NEAR_MISS):
                return None
            return Miss(depth, known, f' ({level.owner})')
        return None

    def suggestion(self, parts: Sequence[str]) -> Optional[str]:
        """The closest key that is taken: each refused part replaced by its closest neighbour, else a key
        of the config with the same last part (the closest such path)."""
        fixed = list(parts)
        for _ in range(len(parts) + 1):  # each pass mends one part; the last one only walks
            miss = self.walk(fixed)
            if miss is None:
                return '.'.join(fixed)
            close = difflib.get_close_matches(fixed[miss.depth], sorted(miss.candidates), n=1,
                                              cutoff=SUGGESTION_CUTOFF)
            if not close:
                break
            fixed[miss.depth] = close[0]
        if len(parts) < 2:
            return None
        same_name = [path for path in paths_of(self.config) if path.rsplit('.', 1)[-1] == parts[-1]]
        close = difflib.get_close_matches('.'.join(parts), same_name, n=1, cutoff=SAME_NAME_CUTOFF)
        return close[0] if close else None

    def level(self, node: Dict[str, Any], where: str) -> Level:
        """What the dict at path ``where`` (``''`` for the top level) takes besides its keys."""
        if not where:
            return Level(set(TOP_LEVEL_KEYS) | runner_arguments(), True,
                         'neither in the config nor a key the runner reads')
        type_value = self.new_types.get(where, node.get('type'))
        names = [type_value] if type_value is not None else list(IMPLIED_TYPES.get(where, ()))
        known = set(RUNNER_DICT_KEYS.get(where, frozenset()))
        if where in ('train_dataloader', 'val_dataloader', 'test_dataloader') and type_value is None:
            from torch.utils.data import DataLoader
            known |= arguments_of(DataLoader)[0]
        elif where == 'randomness':
            from mmengine.runner import Runner
            known |= keyword_names(Runner.set_randomness, bound=True)[0]
        if not names:
            closed = where in CLOSED_RUNNER_DICTS
            return Level(known, closed, 'neither in the config nor a key mmengine reads there' if closed
                         else 'not in the config')
        closed = True
        for name in names:
            found = self.resolve(name, node.get('_scope_'))
            if not found:
                closed = False  # a type no registry knows: its arguments cannot be told
            for target, registry_name in found:
                arguments, takes_any = arguments_of(target)
                known |= arguments | extra_keys(target, registry_name)
                closed = closed and not takes_any
        shown = [name if isinstance(name, str) else getattr(name, '__name__', repr(name)) for name in names]
        return Level(known, closed, f'neither in the config nor an argument of {" / ".join(shown)}')

    def resolve(self, type_value: Any, scope: Optional[str]) -> List[Tuple[Any, str]]:
        """The classes or functions that ``type_value`` names in any registry of the library, with the
        registry's name; a class given as such is itself."""
        if not isinstance(type_value, str):
            return [(type_value, '')] if callable(type_value) else []
        cache_key = (type_value, scope)
        if cache_key not in self._resolved:
            self._resolved[cache_key] = self._lookup(type_value, scope or self.library)
        return self._resolved[cache_key]

    def _lookup(self, name: str, scope: str) -> List[Tuple[Any, str]]:
        from mmengine.registry import DefaultScope, Registry
        registries = [value for value in vars(importlib.import_module(f'{self.library}.registry')).values()
                      if isinstance(value, Registry)]
        found: List[Tuple[Any, str]] = []
        # The library's scope under a stamped one: hrnet_mm's registries fall back to the building library.
        with DefaultScope.overwrite_default_scope(self.library):
            for registry in registries:
                try:
                    with registry.switch_scope_and_registry(scope) as scoped:
                        target = scoped.get(name)
                except Exception:  # a registry that cannot look the name up does not know it
                    continue
                if target is not None and all(target is not t for t, _ in found):
                    found.append((target, registry.name))
        return found


def runner_arguments() -> Set[str]:
    """Arguments of mmengine's Runner and FlexibleRunner: the top-level keys they read from a config."""
    from mmengine.runner import FlexibleRunner, Runner
    return (keyword_names(Runner.__init__, bound=True)[0] | keyword_names(FlexibleRunner.__init__, bound=True)[0]) \
        - {'cfg'}


def paths_of(node: Any, prefix: str = '') -> List[str]:
    """Every key path of a config, inner ones included: ``['a', 'a.b', 'a.l', 'a.l.0', ...]``.

    Example:
        >>> paths_of({'a': {'b': 1, 'l': [{'c': 2}]}})
        ['a', 'a.b', 'a.l', 'a.l.0', 'a.l.0.c']
    """
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    found = []
    for key, value in items:
        path = f'{prefix}{key}'
        found.append(path)
        found += paths_of(value, path + '.')
    return found


def new_types(options: Dict[str, Any]) -> Dict[str, Any]:
    """The ``type`` values that parsed options set, by the path of their dict."""
    return {key[:-len('.type')]: value for key, value in options.items() if key.endswith('.type')}
