"""int8: post-training static quantization of an exported ONNX file, calibrated on the config's own data.

``hrnet-mm export ... --int8 --calib N`` calls :func:`export_int8`: N images are drawn from the
config's training set through its *training* pipeline (the crops, flips and affine transforms the
network saw while training) and its data preprocessor, onnxruntime records the range of every
activation on them (min/max by default), and writes a QDQ file: per-channel symmetric int8 weights,
asymmetric uint8 activations (the pairing onnxruntime's x86 int8 kernels and OpenVINO both run; signed
activations are slower in onnxruntime and refused by OpenVINO's CPU plugin, measured in
docs/deploy.md). The layers that write the model's outputs (the logit / heatmap conv, a classifier's
``fc``) stay float32 by default: their outputs are what the library decodes, and quantizing them costs
accuracy for little time (docs/deploy.md has the measurements).
"""
import random
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from hrnet_mm.constants import CALIB_METHODS, DEFAULT_CALIB
from hrnet_mm.errors import ConfigError, one_line

from .libraries import Library

# Ops whose output is a rearrangement of their first input: looking through them from an output finds
# the layer that computed it.
_PASS_THROUGH = {'Resize', 'Reshape', 'Flatten', 'Transpose', 'Identity', 'Squeeze', 'Unsqueeze', 'Relu',
                 'GlobalAveragePool', 'AveragePool', 'MaxPool', 'Cast', 'Softmax', 'Sigmoid'}
_COMPUTING = {'Conv', 'ConvTranspose', 'Gemm', 'MatMul'}


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed Python's, numpy's and torch's global generators (the pipelines' transforms draw from them),
    restoring their states afterwards."""
    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])


def calibration_inputs(model: Any, cfg: Any, library: Library, count: int, seed: int = 0) -> List[Tensor]:
    """``count`` preprocessed images drawn from the config's training set through its training pipeline.

    Args:
        model: The config's model (its ``data_preprocessor`` normalizes the images).
        cfg: The config (``train_dataloader.dataset`` is read).
        library: The config's library.
        count: Number of images (drawn without replacement while the set is large enough).
        seed: Seeds the draw and the pipeline's random transforms.

    Returns:
        list: (1, 3, H, W) tensors, each as the exported model's ``input`` receives it.

    Raises:
        ConfigError: The training set cannot be read (the message names the dataset and the reason).
    """
    import importlib

    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope
    if count < 1:
        raise ConfigError(f'calib must be a positive number of images, got {count}')
    datasets = importlib.import_module(f'{library.name}.registry').DATASETS
    spec = cfg.train_dataloader.dataset
    where = spec.get('data_root') or spec.get('dataset', {}).get('data_root') or spec.get('type')
    try:
        with DefaultScope.overwrite_default_scope(library.name):
            dataset = datasets.build(spec)
            size = len(dataset)
            if size == 0:
                raise ValueError('the training set is empty')
            rng = np.random.default_rng(seed)
            picks = rng.choice(size, size=count, replace=count > size)
            inputs = []
            with _seeded(seed), torch.no_grad():
                for index in picks:
                    batch = pseudo_collate([dataset[int(index)]])
                    inputs.append(model.data_preprocessor(batch, False)['inputs'].float())
    except ConfigError:
        raise
    except Exception as err:  # dataset classes raise many types for a missing or malformed set
        raise ConfigError(f'int8 calibration draws images from the config\'s training set ({where}), which cannot '
                          f'be read: {type(err).__name__}: {one_line(err)}') from None
    return inputs


def output_layers(model: Any) -> List[str]:
    """Names of the conv / gemm / matmul nodes that compute the graph's outputs (through resizes,
    reshapes, activations and pooling).

    Args:
        model: An ``onnx.ModelProto``.
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    found: List[str] = []
    for output in model.graph.output:
        node = producer.get(output.name)
        while node is not None and node.op_type in _PASS_THROUGH:
            node = producer.get(node.input[0])
        if node is not None and node.op_type in _COMPUTING and node.name not in found:
            found.append(node.name)
    return found


def fit_to(x: Tensor, shape: Sequence[Optional[int]]) -> Tensor:
    """Zero-pad (bottom / right) or crop ``x`` to a file's static height and width (None: any) and repeat
    it to a static batch: training crops smaller than the crop size are padded as the data
    preprocessors pad them (with 0, the mean, after normalization)."""
    n, _, h, w = shape
    if h is not None or w is not None:
        h, w = h or x.shape[2], w or x.shape[3]
        x = torch.nn.functional.pad(x[:, :, :h, :w], (0, w - min(w, x.shape[3]), 0, h - min(h, x.shape[2])))
    if n is not None and n != x.shape[0]:
        x = x[:1].expand(n, -1, -1, -1).contiguous()
    return x


class _Reader:
    """onnxruntime's calibration data reader over a list of inputs, read in strides (``set_range``)."""

    def __init__(self, name: str, inputs: Sequence[Tensor]):
        self._name, self._inputs = name, list(inputs)
        self.set_range(0, len(self._inputs))

    def __len__(self) -> int:
        return len(self._inputs)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._items = iter(self._inputs[start_index:end_index])

    def get_next(self) -> Optional[dict]:
        x = next(self._items, None)
        return None if x is None else {self._name: x.numpy()}


def _stride(count: int, most: int = 4) -> int:
    """The largest divisor of ``count`` up to ``most``: onnxruntime keeps every activation of a stride of
    calibration images in memory at once (hundreds of MB per image for a 512x1024 segmentor)."""
    return max(d for d in range(1, most + 1) if count % d == 0)


def quantize_onnx(fp32_path: Union[str, Path], out_path: Union[str, Path], inputs: Sequence[Tensor],
                  keep_float: Optional[Sequence[str]] = None, method: str = 'minmax') -> List[str]:
    """Write the int8 (QDQ) form of a float32 ONNX file, calibrated on ``inputs``.

    Args:
        fp32_path: The float32 file (e.g. from :func:`~hrnet_mm.apis.export.export_onnx`).
        out_path: Where to write the int8 file.
        inputs: Calibration inputs (preprocessed images, any batch and size the file accepts).
        keep_float: Node names left in float32; None: :func:`output_layers`; ``[]``: none.
        method: How ranges are set from the calibration activations: ``minmax``, ``percentile``
            (99.999th) or ``entropy``.

    Returns:
        list: The node names kept in float32.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static
    if method not in CALIB_METHODS:
        raise ConfigError(f'calibration method must be one of {CALIB_METHODS}, got {method!r}')
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / 'prepared.onnx'
        quant_pre_process(str(fp32_path), str(prepared))  # shape inference + constant folding
        graph = onnx.load(str(prepared))
        kept = output_layers(graph) if keep_float is None else list(keep_float)
        names = {node.name for node in graph.graph.node}
        unknown = [name for name in kept if name not in names]
        if unknown:
            raise ConfigError(f'keep_float names no node of {fp32_path}: {unknown[:3]}')
        reader = _Reader(graph.graph.input[0].name, inputs)
        quantize_static(str(prepared), str(out_path), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=kept,
                        calibrate_method=getattr(CalibrationMethod, {'minmax': 'MinMax'}.get(method, method.title())),
                        # Histograms merge one image at a time (calibration crops may differ in size).
                        extra_options={'CalibStridedMinMax': _stride(len(reader)) if method == 'minmax' else 1})
    return kept


@dataclass
class Int8Report:
    """What :func:`export_int8` wrote and how far it is from float32.

    Attributes:
        path: The int8 file.
        calibration_images: Images calibrated on.
        kept_float: Nodes left in float32.
        relative_error: ``||int8 - fp32|| / ||fp32||`` of each output, on images of the training set drawn
            apart from the calibration ones (onnxruntime).
    """

    path: Path
    calibration_images: int
    kept_float: List[str]
    relative_error: dict = field(default_factory=dict)


def export_int8(config, checkpoint: Optional[str], fp32_path: Union[str, Path], out_path: Union[str, Path],
                calib: int = DEFAULT_CALIB, keep_float: Optional[Sequence[str]] = None, method: str = 'minmax',
                seed: int = 0) -> Int8Report:
    """Quantize an exported float32 file of ``config`` to int8, calibrated on ``calib`` training images.

    Args:
        config: The config the file was exported from (its training set and pipeline calibrate).
        checkpoint: The checkpoint exported (only its data preprocessor settings are used).
        fp32_path: The float32 file.
        out_path: Where to write the int8 file; removed again if anything fails.
        calib: Calibration images.
        keep_float: See :func:`quantize_onnx`.
        method: See :func:`quantize_onnx`.
        seed: Seeds which images are drawn and their augmentation.

    Returns:
        Int8Report: The file, what was kept in float and the measured deviation from float32.
    """
    from .build import build_checked_model
    from .export import output_names
    from .runtime import open_engine
    model, library, cfg = build_checked_model(config, checkpoint)
    fp32 = open_engine(fp32_path)
    inputs = [fit_to(x, fp32.input_shape) for x in calibration_inputs(model, cfg, library, calib + 2, seed)]
    calibration, held_back = inputs[:calib], inputs[calib:]
    out_path = Path(out_path)
    try:
        kept = quantize_onnx(fp32_path, out_path, calibration, keep_float, method)
        int8 = open_engine(out_path)
        errors: dict = {}
        for x in held_back:
            for name, f, q in zip(output_names(library, len(fp32.output_names)), fp32(x), int8(x)):
                errors.setdefault(name, []).append(((q - f).norm() / f.norm().clamp_min(1e-12)).item())
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    return Int8Report(out_path, len(calibration), kept, {k: float(np.mean(v)) for k, v in errors.items()})
