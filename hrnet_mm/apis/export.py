"""ONNX export of a config + checkpoint (the network the task library runs at test time, BN folded).

``hrnet-mm export`` calls :func:`export_onnx` (float32, checked against PyTorch) and, with ``--int8``,
:func:`hrnet_mm.apis.quantize.export_int8`. What is exported, per library (the config's ``default_scope``):

- mmseg: ``model(x, None, mode='tensor')``, backbone + decode head(s) -> ``logits``
  (N, num_classes, H / 4, W / 4) for HRNetV2 + FCN. mmseg's own test-time code resizes them to the
  image and takes the argmax (:mod:`hrnet_mm.apis.runtime` runs it around the exported file).
- mmpose: ``model(x, None, mode='tensor')`` -> ``heatmaps`` (N, K, H / 4, W / 4) of a heatmap head;
  flip test and decoding stay with mmpose.
- mmpretrain: ``model(x, None, mode='tensor')`` -> ``logits`` (N, num_classes).
- mmdet: ``model.extract_feat(x)`` -> backbone + neck pyramid ``feat0..featL``; the dense / RoI heads
  need image metas and NMS, which the exported graph leaves out.

The file records what it was made for (task, classes / keypoints, image channels, HRNet widths) as
ONNX metadata (:data:`hrnet_mm.apis.compatibility.METADATA_KEY`), so that running it under another
config fails in one line before anything runs.

The input ``input`` is the image *after* the data preprocessor (mean/std-normalized, channel order
of the config), shape (N, 3, H, W). Export uses PyTorch's TorchScript-based exporter
(``dynamo=False``): it needs only ``onnx``, while torch's default dynamo exporter also needs
``onnxscript`` (pass ``dynamo=True`` where it is installed).
"""
import inspect
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from hrnet_mm.constants import DEFAULT_OPSET, DEFAULT_RTOL, EXPORT_FORMATS
from hrnet_mm.environment import require_module
from hrnet_mm.errors import ConfigError, SetupError
from hrnet_mm.inference_rewrites import switch_to_deploy

from .build import build_checked_model
from .libraries import Library

MIN_OPSET, MAX_OPSET = 11, 20  # interpolate/resize needs >= 11; 20 is the newest this torch writes
FORMATS = EXPORT_FORMATS


def exporter_choice(dynamo: bool, export: Optional[Callable] = None) -> Dict[str, Any]:
    """The ``dynamo=`` keyword for ``torch.onnx.export``, or none where this torch's export lacks it.

    A torch whose ``torch.onnx.export`` has no ``dynamo`` parameter (before 2.5) exports with
    TorchScript's exporter only, which is what ``dynamo=False`` names on a newer one.

    Args:
        dynamo: Whether the dynamo-based exporter is asked for.
        export: The export function to ask (default: ``torch.onnx.export``).

    Returns:
        dict: ``{'dynamo': dynamo}``, or ``{}`` for an export without that parameter.

    Raises:
        SetupError: ``dynamo`` is asked for and this torch's export has no such exporter.

    Example:
        >>> exporter_choice(False, lambda model, args, f, opset_version=None: None)
        {}
    """
    takes_dynamo = 'dynamo' in inspect.signature(export or torch.onnx.export).parameters
    if takes_dynamo:
        return {'dynamo': dynamo}
    if dynamo:
        raise SetupError(f'torch {torch.__version__} has no dynamo ONNX exporter (torch.onnx.export(dynamo=True)); '
                         'export without dynamo, or install a newer torch')
    return {}


class ExportCheckError(RuntimeError):
    """The exported file does not compute what the PyTorch model computes (the file has been removed)."""


class ExportWrapper(nn.Module):
    """Tensor-in, tensors-out view of an OpenMMLab model for tracing.

    Args:
        model: An mmseg segmentor, mmpose pose estimator, mmpretrain classifier or mmdet detector.
        library: Its :class:`~hrnet_mm.apis.libraries.Library` (what to call is a field of it).

    Shapes:
        x: (N, 3, H, W) preprocessed image -> tuple of output tensors (see the module docstring).
    """

    model: Any  # an OpenMMLab model: extract_feat / mode='tensor' are not on nn.Module

    def __init__(self, model: nn.Module, library: Library):
        super().__init__()
        self.model = model
        self.export_features = library.export_features

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        if self.export_features:  # mode='tensor' of two-stage detectors needs image metas
            out = self.model.extract_feat(x)
        else:
            out = self.model(x, None, mode='tensor')
        return tuple(out) if isinstance(out, (list, tuple)) else (out,)


def output_names(library: Library, count: int) -> List[str]:
    """Names of the exported outputs: ``logits`` / ``heatmaps``, or ``feat0..`` for a pyramid."""
    if not library.export_features and count == 1:
        return [library.output_name]
    return [f'{library.output_name}{i}' for i in range(count)]


def check_export_args(input_shape: Optional[Sequence[int]], opset: int) -> None:
    """Raise :class:`~hrnet_mm.errors.ConfigError` naming a bad traced shape or opset."""
    if input_shape is not None:
        shape = tuple(input_shape)
        if len(shape) != 4 or any(not isinstance(v, int) or v < 1 for v in shape):
            raise ConfigError(f'input_shape must be 4 positive ints (N, C, H, W), got {shape}')
        if min(shape[2:]) < 32:
            raise ConfigError(f'input height and width must be >= 32 (HRNet downsamples 32x), got {shape[2:]}')
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConfigError(f'opset must be an int in {MIN_OPSET}..{MAX_OPSET}, got {opset!r}')


def relative_error(got: Tensor, expected: Tensor) -> float:
    """``max |got - expected| / max |expected|``: the largest deviation as a fraction of the output's scale."""
    scale = expected.abs().max().item()
    return (got - expected).abs().max().item() / (scale if scale > 0 else 1.0)


def compare_outputs(names: Sequence[str], got: Sequence[Tensor], expected: Sequence[Tensor]) -> Dict[str, float]:
    """:func:`relative_error` of each named output; raises ``ValueError`` for a count or shape mismatch."""
    if len(got) != len(expected):
        raise ValueError(f'{len(got)} outputs, expected {len(expected)}')
    errors = {}
    for name, g, e in zip(names, got, expected):
        if tuple(g.shape) != tuple(e.shape):
            raise ValueError(f'output {name!r} has shape {tuple(g.shape)}, expected {tuple(e.shape)}')
        errors[name] = relative_error(g.float(), e.float())
    return errors


def run_onnx(path: Union[str, Path], x: Tensor) -> List[Tensor]:
    """Run an exported file with onnxruntime (CPU) on ``x``; outputs as torch tensors."""
    from .runtime import open_engine
    return open_engine(path, 'onnxruntime')(x)


def _second_shape(shape: Sequence[int]) -> Tuple[int, int, int, int]:
    """Another batch and size for checking a dynamic export: batch + 1, each side 3/4 (>= 32)."""
    n, c, h, w = shape
    return n + 1, c, max(32, h * 3 // 4), max(32, w * 3 // 4)


def export_onnx(config, checkpoint: Optional[str], out_path: Union[str, Path],
                input_shape: Optional[Sequence[int]] = None, dynamic: bool = False,
                opset: int = DEFAULT_OPSET, fuse: bool = True, verify: bool = True,
                dynamo: bool = False, rtol: float = DEFAULT_RTOL) -> Path:
    """Export a config's model (backbone + neck/head) with its checkpoint to a float32 ONNX file.

    Args:
        config: Config path, packaged name (``hrnet_seg/<name>.py``, ``hrnet_mm::...``), ``mmseg::...``
            name, or loaded ``Config`` (mmseg, mmpose, mmpretrain or mmdet ``default_scope``).
        checkpoint: Checkpoint path, or None to export the randomly initialized model.
        out_path: Where to write the ``.onnx`` file (parents are created).
        input_shape: (N, 3, H, W) traced input. Default: batch 1 at the size the config trains at.
        dynamic: Let batch, height and width vary at run time (else fixed to ``input_shape``).
        opset: ONNX opset. Default: 17.
        fuse: Fold BatchNorm into convs first (:func:`~hrnet_mm.inference_rewrites.switch_to_deploy`).
        verify: Run the file with onnxruntime and compare with the PyTorch model *before* folding, on
            the traced input and, for a dynamic export, at a second batch and size too.
        dynamo: Use torch's dynamo-based exporter (needs ``onnxscript``) instead of TorchScript's.
        rtol: Largest ``max |onnxruntime - PyTorch|`` accepted, as a fraction of ``max |PyTorch|``
            per output (:func:`relative_error`).

    Returns:
        Path: ``out_path``.

    Raises:
        MissingPackageError: ``onnx`` / ``onnxruntime`` (or ``onnxscript`` with ``dynamo=True``) missing.
        ConfigError: Config missing or unloadable, checkpoint not fitting it, ``input_shape`` or
            ``opset`` out of range.
        ExportCheckError: onnxruntime's outputs differ from PyTorch's by more than ``rtol``; the file
            written is removed first.
    """
    check_export_args(input_shape, opset)
    require_module('onnx', 'ONNX export')
    if verify:
        require_module('onnxruntime', "checking the exported file's outputs")
    choice = exporter_choice(dynamo)  # before the model is built: a torch without it fails at once
    if dynamo:
        require_module('onnxscript', 'the dynamo exporter')
    model, library, cfg = build_checked_model(config, checkpoint)
    from .compatibility import record_traits, traits_of_state_dict
    traits = traits_of_state_dict(model.state_dict())  # before BN folding, which removes the BN tensors
    wrapper = ExportWrapper(model, library).eval()
    if input_shape is None:
        input_shape = (1, 3, *library.input_size(cfg))
    gen = torch.Generator().manual_seed(0)
    # Normal noise: the scale of a mean/std-normalized image.
    inputs = [torch.randn(*input_shape, generator=gen)]
    if dynamic:
        inputs.append(torch.randn(*_second_shape(input_shape), generator=gen))
    with torch.no_grad():
        expected = [wrapper(x) for x in inputs] if verify else []  # the model as trained, BN not folded
        if fuse:
            switch_to_deploy(model)
        traced = wrapper(inputs[0])
    names = output_names(library, len(traced))
    axes = None
    if dynamic:
        axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
        axes.update({n: {0: 'batch', 2: f'{n}_height', 3: f'{n}_width'} if t.dim() == 4 else {0: 'batch'}
                     for n, t in zip(names, traced)})
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            # dynamo=False is deprecated in torch >= 2.9 but is the exporter that needs no onnxscript.
            warnings.filterwarnings('ignore', category=DeprecationWarning)
            warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
            torch.onnx.export(wrapper, (inputs[0],), str(out_path), input_names=['input'], output_names=names,
                              opset_version=opset, dynamic_axes=axes, do_constant_folding=True, **choice)
        import onnx
        written = onnx.load(str(out_path))
        record_traits(written, traits)  # what the file was made for, checked against a config before it runs
        onnx.checker.check_model(written)
        onnx.save(written, str(out_path))
        if verify:
            from .runtime import open_engine
            engine = open_engine(out_path, 'onnxruntime')
            for x, e in zip(inputs, expected):
                try:
                    errors = compare_outputs(names, engine(x), e)
                except ValueError as err:
                    raise ExportCheckError(f'{out_path}: onnxruntime differs from PyTorch at input {tuple(x.shape)}: '
                                       f'{err}') from None
                worst = max(errors, key=errors.__getitem__)
                if errors[worst] > rtol:
                    raise ExportCheckError(f'{out_path}: onnxruntime output {worst!r} differs from PyTorch at input '
                                       f'{tuple(x.shape)} by {errors[worst]:.3g} of its scale (> rtol {rtol:g})')
    except BaseException:
        out_path.unlink(missing_ok=True)  # nothing half-checked stays behind
        raise
    return out_path
