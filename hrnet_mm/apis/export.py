"""ONNX export of a config + checkpoint (backbone + neck/head, BN folded); ``hrnet-mm export`` calls it.

What is exported, per library (the config's ``default_scope``):

- mmseg: ``model(x, None, mode='tensor')``, i.e. backbone + decode head -> ``logits``
  (N, num_classes, H / 4, W / 4) for HRNetV2 + FCN; resize and argmax stay with the caller.
- mmpose: ``model(x, None, mode='tensor')`` -> the head's raw output (``heatmaps`` (N, K, H / 4, W / 4)
  for a heatmap head).
- mmdet: ``model.extract_feat(x)`` -> backbone + neck pyramid ``feat0..featL``; box decoding and NMS
  need mmdeploy.

The input ``input`` is the image *after* the data preprocessor (mean/std-normalized, channel order
of the config), shape (N, 3, H, W). Export uses PyTorch's TorchScript-based exporter
(``dynamo=False``): it needs only ``onnx``, while torch's default dynamo exporter also needs
``onnxscript`` (pass ``dynamo=True`` where it is installed).
"""
import warnings
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from hrnet_mm.deploy import switch_to_deploy
from hrnet_mm.errors import ConfigError

from .build import build_model
from .libraries import Library

DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 11, 20  # interpolate/resize needs >= 11; 20 is the newest this torch writes
FORMATS = ('onnx',)
_DEPS_HINT = 'pip install onnx onnxruntime'


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise ImportError(f'ONNX export needs the {module!r} package, which is not installed; '
                          f'run `{_DEPS_HINT}`') from None


class ExportWrapper(nn.Module):
    """Tensor-in, tensors-out view of an OpenMMLab model for tracing.

    Args:
        model: An mmseg segmentor, mmpose pose estimator or mmdet detector.
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


def _output_names(library: Library, count: int) -> List[str]:
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


def run_onnx(path: Union[str, Path], x: Tensor) -> List[Tensor]:
    """Run an exported file with onnxruntime (CPU) on ``x``; outputs as torch tensors."""
    _require('onnxruntime')
    import onnxruntime as ort
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    return [torch.from_numpy(o) for o in session.run(None, {name: x.detach().cpu().numpy()})]


def export_onnx(config: str, checkpoint: Optional[str], out_path: Union[str, Path],
                input_shape: Optional[Sequence[int]] = None, dynamic: bool = False,
                opset: int = DEFAULT_OPSET, fuse: bool = True, verify: bool = True,
                dynamo: bool = False, atol: float = 1e-4) -> Path:
    """Export a config's model (backbone + neck/head) with its checkpoint to an ONNX file.

    Args:
        config: Config path (mmseg, mmpose or mmdet ``default_scope``).
        checkpoint: Checkpoint path, or None to export the randomly initialized model.
        out_path: Where to write the ``.onnx`` file (parents are created).
        input_shape: (N, 3, H, W) traced input. Default: batch 1 at the size the config trains at.
        dynamic: Let batch, height and width vary at run time (else fixed to ``input_shape``).
        opset: ONNX opset. Default: 17.
        fuse: Fold BatchNorm into convs first (:func:`~hrnet_mm.deploy.switch_to_deploy`).
        verify: Run the file with onnxruntime on the traced input and compare to PyTorch.
        dynamo: Use torch's dynamo-based exporter (needs ``onnxscript``) instead of TorchScript's.
        atol: Largest absolute difference ``verify`` accepts.

    Returns:
        Path: ``out_path``.

    Raises:
        ImportError: ``onnx`` / ``onnxruntime`` (or ``onnxscript`` with ``dynamo=True``) missing.
        ConfigError: ``input_shape`` or ``opset`` out of range.
        RuntimeError: onnxruntime's outputs differ from PyTorch's by more than ``atol``.
    """
    check_export_args(input_shape, opset)
    _require('onnx')
    if verify:
        _require('onnxruntime')
    if dynamo:
        _require('onnxscript')
    model, library, cfg = build_model(config, checkpoint)
    if fuse:
        switch_to_deploy(model)
    wrapper = ExportWrapper(model, library).eval()
    if input_shape is None:
        input_shape = (1, 3, *library.input_size(cfg))
    x = torch.rand(*input_shape)
    with torch.no_grad():
        expected = wrapper(x)
    names = _output_names(library, len(expected))
    axes = None
    if dynamic:
        axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
        axes.update({n: {0: 'batch', 2: f'{n}_height', 3: f'{n}_width'} for n, e in zip(names, expected)
                     if e.dim() == 4})
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # dynamo=False is deprecated in torch >= 2.9 but is the exporter that needs no onnxscript.
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        torch.onnx.export(wrapper, (x,), str(out_path), input_names=['input'], output_names=names,
                          opset_version=opset, dynamic_axes=axes, do_constant_folding=True, dynamo=dynamo)
    import onnx
    onnx.checker.check_model(str(out_path))
    if verify:
        for name, e, g in zip(names, expected, run_onnx(out_path, x)):
            err = (g - e).abs().max().item()
            if g.shape != e.shape or err > atol:
                raise RuntimeError(f'{out_path}: onnxruntime output {name!r} differs from PyTorch '
                                   f'(shape {tuple(g.shape)} vs {tuple(e.shape)}, max abs diff {err:.3g} > {atol})')
    return out_path
