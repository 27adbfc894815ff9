"""Whether a checkpoint or an exported file was made for a config's model, said in a user's terms.

A state dict loads only when its keys and shapes equal those of the model the config builds; when
they do not, the raw difference (hundreds of keys, or a loader that goes on and computes nonsense)
tells a user little. :class:`ModelTraits` reads back what a user chose when configuring a model out of
tensor shapes alone:

- the task, from the head's key names (``decode_head.``: segmentation; ``head.final_layer.``: pose
  heatmaps; ``head.fc.``: classification; ``rpn_head.`` / ``roi_head.`` / ``bbox_head.``: detection);
- the classes or keypoints, from the output channels of the layer that writes the predictions;
- the image channels, from the stem conv's input channels;
- the HRNet branch widths (W18: 18/36/72/144), from the first block of each branch of the last stage.

An exported file (``hrnet-mm export``) carries the same traits as ONNX metadata
(:data:`METADATA_KEY`); a file without it (written by an older hrnet_mm) is read from its input and
output shapes and the shapes of its 3x3 convolution weights. :func:`check_checkpoint_fits` and
:func:`check_export_fits` raise :class:`ModelMismatchError`, one short line naming the file, the
config and what differs, before anything runs.
"""
import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from hrnet_mm.errors import ConfigError, is_int

METADATA_KEY = 'hrnet_mm.model'
SEGMENTATION, POSE, CLASSIFICATION, DETECTION = 'segmentation', 'pose', 'classification', 'detection'
# What a task's head predicts, for messages: "17 keypoints", "6 classes".
_UNIT = {SEGMENTATION: 'classes', POSE: 'keypoints', CLASSIFICATION: 'classes', DETECTION: 'classes'}
_MODEL = {SEGMENTATION: 'segmentation model', POSE: 'pose model', CLASSIFICATION: 'classification model',
          DETECTION: 'detector'}
_SEG_LOGITS = re.compile(r'^decode_head\.(?:(\d+)\.)?conv_seg\.weight$')
_SOFTMAX_BOX_SCORES = re.compile(r'^roi_head\.bbox_head\.(?:(\d+)\.)?fc_cls\.weight$')
_BRANCH_ENTRY = re.compile(r'^backbone\.stage(\d+)\.0\.branches\.(\d+)\.0\.conv1\.weight$')
# The names export_onnx gives its outputs (hrnet_mm.apis.libraries: output_name of each library).
_POSE_OUTPUT, _LOGITS_OUTPUT, _FEATURE_OUTPUT = 'heatmaps', 'logits', 'feat'
Shape = Tuple[int, ...]
PathLike = Union[str, Path]


class ModelMismatchError(ConfigError):
    """A checkpoint or exported file made for another model than the config's; one line saying how."""


@dataclass(frozen=True)
class ModelTraits:
    """What a model was configured as, read from its tensors; None where they do not tell.

    Attributes:
        task: ``segmentation``, ``pose``, ``classification`` or ``detection``.
        outputs: Classes (segmentation, classification, a detector's box classifier) or keypoints (pose).
        in_channels: Channels of the images the stem takes.
        widths: Channels of each branch of the HRNet's last stage, e.g. (18, 36, 72, 144).
    """

    task: Optional[str] = None
    outputs: Optional[int] = None
    in_channels: Optional[int] = None
    widths: Optional[Tuple[int, ...]] = None

    def to_json(self) -> str:
        """The traits as the JSON text export writes under :data:`METADATA_KEY`."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Optional['ModelTraits']:
        """Traits from :meth:`to_json`'s text; None for text that is not such traits (a foreign file)."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        task, widths = data.get('task'), data.get('widths')
        counts = [data.get('outputs'), data.get('in_channels')]
        if task not in (*_MODEL, None) or any(c is not None and not is_int(c) for c in counts):
            return None
        if widths is not None and not (isinstance(widths, list) and all(is_int(w) for w in widths)):
            return None
        return cls(task, counts[0], counts[1], None if widths is None else tuple(widths))


def _shape(value: Any) -> Shape:
    return tuple(int(d) for d in value.shape)


def _last_match(shapes: Mapping[str, Shape], pattern: 're.Pattern[str]') -> Optional[Shape]:
    """Shape of the key matching ``pattern`` with the highest index group (the last head of a cascade)."""
    found = [(int(m.group(1) or 0), key) for key in shapes for m in [pattern.match(key)] if m]
    return shapes[max(found)[1]] if found else None


def _task_and_outputs(shapes: Mapping[str, Shape]) -> Tuple[Optional[str], Optional[int]]:
    logits = _last_match(shapes, _SEG_LOGITS)
    if logits is not None or any(k.startswith('decode_head.') for k in shapes):
        return SEGMENTATION, logits[0] if logits else None
    if any(k.startswith(('rpn_head.', 'roi_head.', 'bbox_head.')) for k in shapes):
        scores = _last_match(shapes, _SOFTMAX_BOX_SCORES)
        if scores is not None:
            return DETECTION, scores[0] - 1  # a softmax box classifier scores the background too
        dense = shapes.get('bbox_head.conv_cls.weight')
        return DETECTION, dense[0] if dense else None
    if 'head.final_layer.weight' in shapes:
        return POSE, shapes['head.final_layer.weight'][0]
    if 'head.fc.weight' in shapes:
        return CLASSIFICATION, shapes['head.fc.weight'][0]
    return None, None


def _branch_widths(shapes: Mapping[str, Shape]) -> Optional[Tuple[int, ...]]:
    """Input channels of the first block of each branch of the last stage that has branches."""
    entries: Dict[int, Dict[int, int]] = {}
    for key, shape in shapes.items():
        match = _BRANCH_ENTRY.match(key)
        if match and len(shape) == 4:
            entries.setdefault(int(match.group(1)), {})[int(match.group(2))] = shape[1]
    if not entries:
        return None
    last = entries[max(entries)]
    return tuple(last[i] for i in sorted(last))


def _stem_channels(shapes: Mapping[str, Shape]) -> Optional[int]:
    stem = shapes.get('backbone.conv1.weight')
    if stem is None:  # another backbone: its first conv (state dicts keep the modules' order)
        stem = next((s for k, s in shapes.items() if k.startswith('backbone.') and len(s) == 4), None)
    return stem[1] if stem is not None and len(stem) == 4 else None


def traits_of_state_dict(state_dict: Mapping[str, Any]) -> ModelTraits:
    """The :class:`ModelTraits` of a model's (or a checkpoint's, unwrapped) state dict.

    Args:
        state_dict: Parameter names -> tensors (anything with a ``shape``).

    Example:
        >>> import torch
        >>> traits_of_state_dict({'backbone.conv1.weight': torch.zeros(64, 4, 3, 3),
        ...                       'decode_head.conv_seg.weight': torch.zeros(19, 270, 1, 1)})
        ModelTraits(task='segmentation', outputs=19, in_channels=4, widths=None)
    """
    return _traits_of_shapes({k: _shape(v) for k, v in state_dict.items() if hasattr(v, 'shape')})


def _traits_of_shapes(shapes: Mapping[str, Shape]) -> ModelTraits:
    task, outputs = _task_and_outputs(shapes)
    return ModelTraits(task, outputs, _stem_channels(shapes), _branch_widths(shapes))


def square_conv_widths(shapes: Iterable[Sequence[int]]) -> Set[int]:
    """Channels C of every (C, C, 3, 3) weight: a branch's 3x3 convs, the shapes an HRNet's width fixes."""
    return {int(s[0]) for s in shapes if len(s) == 4 and s[0] == s[1] and tuple(s[2:]) == (3, 3)}


def _graph_traits(model: Any) -> Tuple[ModelTraits, Set[int]]:
    """Traits an ONNX graph shows by its shapes, and its :func:`square_conv_widths` (for the widths)."""
    def dims(value_info: Any) -> List[Optional[int]]:
        return [d.dim_value if d.HasField('dim_value') else None for d in value_info.type.tensor_type.shape.dim]
    weights = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    in_dims = dims(inputs[0]) if inputs else []
    in_channels = in_dims[1] if len(in_dims) == 4 else None
    task, outputs = None, None
    first = model.graph.output[0] if model.graph.output else None
    if first is not None:
        out_dims = dims(first)
        if first.name == _POSE_OUTPUT:
            task = POSE
        elif first.name == _LOGITS_OUTPUT:
            task = SEGMENTATION if len(out_dims) == 4 else CLASSIFICATION if len(out_dims) == 2 else None
        elif first.name.startswith(_FEATURE_OUTPUT):
            task = DETECTION  # backbone + neck: the box classifier is not in the file
        outputs = out_dims[1] if task in (POSE, SEGMENTATION, CLASSIFICATION) and len(out_dims) > 1 else None
    return ModelTraits(task, outputs, in_channels), square_conv_widths(list(i.dims) for i in model.graph.initializer)


def read_onnx(path: PathLike) -> Optional[Any]:
    """The ``onnx.ModelProto`` of a file without its external data; None where onnx or the file cannot
    (no onnx package, no such file, not ONNX: the engine that opens it says so in its own words)."""
    try:
        import onnx
    except ImportError:
        return None
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception:  # protobuf and onnx raise several types for a file that is no model
        return None


def exported_traits(model: Any) -> Optional[ModelTraits]:
    """The traits export wrote into an ``onnx.ModelProto`` (:data:`METADATA_KEY`), or None."""
    text = next((p.value for p in model.metadata_props if p.key == METADATA_KEY), None)
    return None if text is None else ModelTraits.from_json(text)


def record_traits(model: Any, traits: ModelTraits) -> None:
    """Record ``traits`` in an ONNX model's metadata (:data:`METADATA_KEY`), replacing an earlier record.

    Args:
        model: An ``onnx.ModelProto``, changed in place.
        traits: What the model was made for.
    """
    kept = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=METADATA_KEY, value=traits.to_json())


def _widths_text(widths: Sequence[int]) -> str:
    return '/'.join(str(w) for w in widths)


def _what(traits: ModelTraits) -> str:
    """``segmentation model of 6 classes``, ``pose model of 17 keypoints``, ..."""
    if traits.task is None:
        return 'model without a head (a backbone alone?)'
    counted = f' of {traits.outputs} {_UNIT[traits.task]}' if traits.outputs is not None else ''
    return _MODEL[traits.task] + counted


def trait_differences(found: ModelTraits, wanted: ModelTraits) -> List[str]:
    """How a file's traits differ from the config's, one phrase each ("it ..., the config ...").

    A trait either side does not tell is not compared.

    Example:
        >>> trait_differences(ModelTraits('pose', 17, 3), ModelTraits('segmentation', 6, 3))
        ['it is a pose model of 17 keypoints, the config a segmentation model of 6 classes']
    """
    said: List[str] = []
    if found.task != wanted.task and wanted.task is not None:
        said.append(f'it is a {_what(found)}, the config a {_what(wanted)}')
    elif None not in (found.outputs, wanted.outputs) and found.outputs != wanted.outputs:
        unit = _UNIT[wanted.task] if wanted.task else 'outputs'
        said.append(f'it predicts {found.outputs} {unit}, the config {wanted.outputs}')
    if None not in (found.in_channels, wanted.in_channels) and found.in_channels != wanted.in_channels:
        said.append(f'it takes {found.in_channels}-channel images, the config {wanted.in_channels}-channel ones')
    if found.widths and wanted.widths and found.widths != wanted.widths:
        said.append(f'its HRNet branches are {_widths_text(found.widths)} wide, the config\'s '
                    f'{_widths_text(wanted.widths)}')
    return said


def _tensor_differences(own: Mapping[str, Shape], theirs: Mapping[str, Shape]) -> List[str]:
    """What a strict load would refuse, counted, with one example each; ``num_batches_tracked`` may be absent."""
    missing = [k for k in own if k not in theirs and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in theirs if k not in own]
    reshaped = [k for k in theirs if k in own and own[k] != theirs[k]]
    said = []
    if reshaped:
        k = reshaped[0]
        said.append(f'{len(reshaped)} tensor(s) differ in shape, e.g. {k} {theirs[k]} vs the config\'s {own[k]}')
    if missing:
        said.append(f'it lacks {len(missing)} tensor(s) of the config\'s model, e.g. {missing[0]}')
    if unexpected:
        said.append(f'it has {len(unexpected)} tensor(s) the config\'s model lacks, e.g. {unexpected[0]}')
    return said


def state_dict_differences(model_state: Mapping[str, Any], file_state: Mapping[str, Any]) -> List[str]:
    """How a checkpoint's state dict differs from a model's: in traits where they tell, else in tensors.

    Empty exactly when a strict load of ``file_state`` into the model succeeds (``num_batches_tracked``
    may be absent, as mmengine's loader allows).
    """
    own = {k: _shape(v) for k, v in model_state.items()}
    theirs = {k: _shape(v) for k, v in file_state.items()}
    tensors = _tensor_differences(own, theirs)
    if not tensors:
        return []
    return trait_differences(_traits_of_shapes(theirs), _traits_of_shapes(own)) or tensors


def export_differences(model_state: Mapping[str, Any], onnx_model: Any) -> List[str]:
    """How an exported file (an ``onnx.ModelProto``) differs from the model a config builds.

    The file's own record (:data:`METADATA_KEY`) is compared where export wrote one. For an older
    file, what its shapes tell: the task and classes / keypoints from its output, the image channels
    from its input, and whether every HRNet branch width of the config is the width of some 3x3
    convolution of the file (each one is, when the file was exported from that config). A file whose
    outputs are not named as export names them is not judged (empty, foreign or damaged: the engine
    that opens it names its problem).
    """
    wanted = traits_of_state_dict(model_state)
    recorded = exported_traits(onnx_model)
    if recorded is not None:
        return trait_differences(recorded, wanted)
    shown, conv_widths = _graph_traits(onnx_model)
    if shown.task is None:  # outputs not named as export names them: no export of ours, the engine judges it
        return []
    said = trait_differences(shown, replace(wanted, widths=None))
    absent = [w for w in wanted.widths or () if w not in conv_widths]
    if absent:
        said.append(f'it has no 3x3 convolution {absent[0]} channels wide, as the config\'s HRNet branches '
                    f'{_widths_text(wanted.widths or ())} have')
    return said


def file_name(path: PathLike) -> str:
    """A file named by its name (a URL by its last part): what a one-line message can hold."""
    return Path(str(path).rstrip('/')).name or str(path)


def config_name(config: Any) -> str:
    """A config named by its file name: a path or packaged name as given, a loaded ``Config`` by its file."""
    if isinstance(config, (str, Path)):
        return file_name(config)
    filename = getattr(config, 'filename', None)
    return file_name(filename) if filename else 'the config'


def _mismatch(path: PathLike, config: Any, differences: List[str]) -> ModelMismatchError:
    return ModelMismatchError(f'{file_name(path)} does not fit {config_name(config)}: ' + '; '.join(differences))


def check_checkpoint_fits(model: Any, state_dict: Mapping[str, Any], path: PathLike, config: Any) -> None:
    """Raise unless ``state_dict`` (a checkpoint's, unwrapped) loads strictly into ``model``.

    Args:
        model: The model the config builds (its weights are not used, only their names and shapes).
        state_dict: The checkpoint's tensors (:func:`~hrnet_mm.checkpoint.unwrap_state_dict`).
        path: The checkpoint, for the message.
        config: The config (path, name or ``Config``), for the message.

    Raises:
        ModelMismatchError: ``model.pth does not fit CONFIG: it is a pose model of 17 keypoints, the
            config a segmentation model of 6 classes`` and the like: the task, classes /
            keypoints, image channels and branch widths that differ, else the tensors a strict load
            would refuse (counted, one example each).
    """
    differences = state_dict_differences(model.state_dict(), state_dict)
    if differences:
        raise _mismatch(path, config, differences)


def check_export_fits(model: Any, path: PathLike, config: Any) -> None:
    """Raise if an exported file was made for another model than the one ``config`` builds.

    Nothing is checked where the file cannot be read as ONNX (no ``onnx`` package, a damaged file):
    the engine that opens it names that problem.

    Raises:
        ModelMismatchError: What differs (see :func:`export_differences`), naming the file and the config.
    """
    onnx_model = read_onnx(path)
    if onnx_model is None:
        return
    differences = export_differences(model.state_dict(), onnx_model)
    if differences:
        raise _mismatch(path, config, differences)
