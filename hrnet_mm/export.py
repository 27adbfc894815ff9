"""``hrnet-mm export``: a config + checkpoint to ONNX (backbone + neck/head, BN folded).

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
import argparse
import sys
import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from .deploy import switch_to_deploy
from .tools_cli import build_model

DEFAULT_OPSET = 17
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
        library: ``'mmseg'``, ``'mmpose'`` or ``'mmdet'``.

    Shapes:
        x: (N, 3, H, W) preprocessed image -> tuple of output tensors (see the module docstring).
    """

    def __init__(self, model: nn.Module, library: str):
        super().__init__()
        self.model = model
        self.library = library

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        if self.library == 'mmdet':  # mode='tensor' of two-stage detectors needs image metas
            out = self.model.extract_feat(x)
        else:
            out = self.model(x, None, mode='tensor')
        return tuple(out) if isinstance(out, (list, tuple)) else (out,)


def default_input_size(cfg, library: str) -> Tuple[int, int]:
    """(H, W) the config trains at: mmseg ``crop_size``, mmpose ``codec.input_size``; else 800x1344 / 512x512."""
    if library == 'mmseg' and cfg.get('crop_size'):
        return tuple(cfg.crop_size)  # type: ignore[return-value]
    if library == 'mmpose' and cfg.get('codec') and 'input_size' in cfg.codec:
        w, h = cfg.codec['input_size']
        return h, w
    return (800, 1344) if library == 'mmdet' else (512, 512)


def _output_names(library: str, count: int) -> List[str]:
    base = {'mmseg': 'logits', 'mmpose': 'heatmaps', 'mmdet': 'feat'}[library]
    if library != 'mmdet' and count == 1:
        return [base]
    return [f'{base}{i}' for i in range(count)]


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
        input_shape: (N, 3, H, W) traced input. Default: batch 1 at :func:`default_input_size`.
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
        RuntimeError: onnxruntime's outputs differ from PyTorch's by more than ``atol``.
    """
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
        input_shape = (1, 3, *default_input_size(cfg, library))
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


def run_export(args: argparse.Namespace) -> int:
    """``hrnet-mm export``: returns the exit status, messages go to stderr."""
    if args.format.lower() not in FORMATS:
        print(f'hrnet-mm export: format {args.format!r} is not supported; use --format onnx '
              '(convert the ONNX file with TensorRT, OpenVINO, ... for other runtimes)', file=sys.stderr)
        return 2
    out = args.out or str(Path(args.checkpoint).with_suffix('.onnx'))
    shape = None if args.shape is None else (args.batch, 3, *args.shape)
    try:
        path = export_onnx(args.config, args.checkpoint, out, shape, dynamic=args.dynamic, opset=args.opset,
                           verify=not args.no_verify)
    except ImportError as err:
        print(f'hrnet-mm export: {err}', file=sys.stderr)
        return 1
    print(f'[hrnet-mm] wrote {path}' + (' (dynamic batch/height/width)' if args.dynamic else ''))
    return 0


def add_export_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hrnet-mm export CONFIG CHECKPOINT --format onnx [--dynamic] [--shape H W] [--out FILE]``."""
    p = subparsers.add_parser('export', help='export a config + checkpoint to ONNX (backbone + neck/head)')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--format', default='onnx', help='export format; only onnx (default)')
    p.add_argument('--out', help='output file; default: the checkpoint path with .onnx')
    p.add_argument('--shape', nargs=2, type=int, metavar=('H', 'W'),
                   help="traced input size; default: the config's crop / codec size")
    p.add_argument('--batch', type=int, default=1, help='traced batch size (default 1)')
    p.add_argument('--dynamic', action='store_true', help='dynamic batch, height and width')
    p.add_argument('--opset', type=int, default=DEFAULT_OPSET)
    p.add_argument('--no-verify', action='store_true', help='skip the onnxruntime vs PyTorch check')
    p.set_defaults(func=run_export)
    return p
