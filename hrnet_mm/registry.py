"""OpenMMLab registries of hrnet_mm: one child of each mmengine root registry, scope ``hrnet_mm``.

A config anywhere in the OpenMMLab world (mmseg, mmpose, mmdet, mmpretrain, plain mmengine) builds our
modules with ``type='hrnet_mm.HRNet'``; the scope prefix keeps them apart from the stock ``HRNet``s.

Why every root has a child, although we register only models: a user config that inherits ours
(``_base_ = 'hrnet_mm::hrnet_seg/<name>.py'``) gets ``_scope_='hrnet_mm'`` stamped by mmengine on
every dict it inherits from that base, so mmengine looks its ``EncoderDecoder``, ``CocoDataset``,
``LoggerHook`` ... up in *our* registries, under our scope, and so do the nested dicts built while
that scope is current. A name we do not register falls through to the library whose scope was
current before (the config's ``default_scope``, e.g. ``mmseg``), as if the dict carried no stamp,
then to mmengine's root, as a child registry does, and last to the one library registry that has
the name (a builder that set no scope at all, such as mmpretrain's inferencers).

Example:
    >>> from mmengine.registry import DefaultScope
    >>> from mmseg.registry import MODELS as MMSEG_MODELS
    >>> with DefaultScope.overwrite_default_scope('mmseg'):
    ...     with DefaultScope.overwrite_default_scope('hrnet_mm'):  # what a stamped dict does
    ...         found = MODELS.get('EncoderDecoder')
    >>> found is MMSEG_MODELS.get('EncoderDecoder')
    True
"""
from importlib import import_module
from typing import Optional

from mmengine import registry as root
from mmengine.registry import DefaultScope, Registry

SCOPE = 'hrnet_mm'


def building_library() -> Optional[str]:
    """The scope of the library building the current config: the innermost default scope that is not ours.

    mmengine keeps the default scopes in creation order; switching to a dict's ``_scope_`` adds one
    for as long as that dict is built, so the last scope other than ``hrnet_mm`` is the one in force
    where our scope was switched in. None when no other scope is set.
    """
    for instance in reversed(list(DefaultScope._instance_dict.values())):  # no public API lists them
        if instance.scope_name != SCOPE:
            return instance.scope_name
    return None


class PluginRegistry(Registry):
    """A child registry of scope ``hrnet_mm`` whose unknown, unprefixed names come from the building library.

    A lookup reads registries only: it imports nothing and adds no registry (the libraries' own root
    registries got their child of ours when hrnet_mm activated: :func:`adopt_library_roots`).
    """

    def get(self, key: str):
        scope, name = self.split_scope_key(key)
        if scope is not None:
            return super().get(key)
        self.import_from_location()
        if name in self.module_dict:
            return self.module_dict[name]
        library = self._library_registry()
        found = library.get(key) if library is not None else None
        if found is None:
            found = super().get(key)  # our ancestors: mmengine's root
        if found is None:
            found = self._only_library_with(name)
        return found

    def _only_library_with(self, name: str):
        """The class of the one library registry beside ours that has ``name`` registered, or None.

        For builders that set no default scope (mmpretrain's inferencers build their pipeline so):
        with no scope, mmengine would have used the registry the build was called on. Only modules
        their library has imported already count; nothing is imported here.
        """
        owners = [child.module_dict[name] for scope, child in self.parent.children.items()
                  if scope != SCOPE and name in child.module_dict]
        return owners[0] if len(owners) == 1 else None

    def _library_registry(self) -> Optional[Registry]:
        """The same registry (e.g. ``model``) of the building library, or None.

        mmengine imported ``<library>.registry`` when it made that library's scope current, so its
        registries are children of our parent by now.
        """
        library = building_library()
        return None if library is None else self.parent.children.get(library)


def adopt_library_roots() -> None:
    """Give our scope a child in the installed libraries' own root registries (mmpose's ``KEYPOINT_CODECS``).

    A codec built inside a stamped pose model is looked up under our scope as well; without a child
    mmengine still finds it, but warns that the scope has no registry in that tree. Called once, when
    hrnet_mm activates (:mod:`hrnet_mm.plugin`), so that no lookup changes another library's registries.
    """
    from hrnet_mm.apis.libraries import LIBRARIES
    for library in LIBRARIES:
        try:
            module = import_module(f'{library}.registry')
        except ImportError:  # not installed, or broken: its own commands say so
            continue
        for value in vars(module).values():
            if isinstance(value, Registry) and value.parent is None and SCOPE not in value.children:
                PluginRegistry(value.name, parent=value, scope=SCOPE, locations=LOCATIONS)


# mmengine imports a registry's locations before its first lookup: hrnet_mm.plugin registers all we
# have (without a location, it would look for a `hrnet_mm.utils.register_all_modules` and warn).
LOCATIONS = ['hrnet_mm.plugin']


def _child(root_registry: Registry) -> PluginRegistry:
    return PluginRegistry(root_registry.name, parent=root_registry, scope=SCOPE, locations=LOCATIONS)


# Named as in mmengine.registry (and mmseg / mmdet / mmpose / mmpretrain).
RUNNERS = _child(root.RUNNERS)
RUNNER_CONSTRUCTORS = _child(root.RUNNER_CONSTRUCTORS)
LOOPS = _child(root.LOOPS)
HOOKS = _child(root.HOOKS)
STRATEGIES = _child(root.STRATEGIES)
DATASETS = _child(root.DATASETS)
DATA_SAMPLERS = _child(root.DATA_SAMPLERS)
TRANSFORMS = _child(root.TRANSFORMS)
MODELS = _child(root.MODELS)
MODEL_WRAPPERS = _child(root.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child(root.WEIGHT_INITIALIZERS)
OPTIMIZERS = _child(root.OPTIMIZERS)
OPTIM_WRAPPERS = _child(root.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child(root.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child(root.PARAM_SCHEDULERS)
METRICS = _child(root.METRICS)
EVALUATOR = _child(root.EVALUATOR)
TASK_UTILS = _child(root.TASK_UTILS)
VISUALIZERS = _child(root.VISUALIZERS)
VISBACKENDS = _child(root.VISBACKENDS)
LOG_PROCESSORS = _child(root.LOG_PROCESSORS)
INFERENCERS = _child(root.INFERENCERS)
FUNCTIONS = _child(root.FUNCTIONS)
