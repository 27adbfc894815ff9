"""Running exported files: CPU engines, and the task libraries' own test-time code around them.

An *engine* runs an ONNX file written by :func:`~hrnet_mm.apis.export.export_onnx` (or its int8 form)
on a preprocessed batch and returns the outputs as torch tensors: ``openvino`` or ``onnxruntime``.
The same file runs in both; without a choice the fastest installed one runs (:func:`default_engine`:
OpenVINO was faster in every case of ``make bench-deploy``, docs/deploy.md).

:func:`attach_engine` puts an engine in place of the network of an OpenMMLab model built from the
same config, so that everything the library does around the network at test time (data
preprocessing, mmseg's resize to the image and argmax, mmpose's flip test and heatmap decoding,
mmpretrain's softmax, mmdet's heads) runs unchanged. :func:`evaluate` runs a model over the config's
test split with the config's metric (:func:`evaluate_export`: an exported file, as ``hrnet-mm test``
runs it); :func:`infer_images` draws predictions on image files with the
library's own inferencer and visualizer, as the PyTorch path does.

Example:
    >>> ENGINES
    ('onnxruntime', 'openvino')
"""
import copy
import json
import logging
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from types import MethodType
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from hrnet_mm.constants import ENGINES, FASTEST_FIRST
from hrnet_mm.environment import INSTALLS, installed, require_module
from hrnet_mm.errors import ConfigError, InputError, MissingPackageError

from .images import check_images, naming_unreadable
from .libraries import Library

Shape = Tuple[Union[int, str, None], ...]
# OpenVINO's per-frame lines: 'Exception from src/a.cpp:12:', "Check 'x' failed at src/b.cpp:3:"
_SOURCE_LOCATION = re.compile(r"^(Exception from \S+:\d+:|Check '.*' failed at \S+:\d+:)$")


class Engine:
    """A compiled ONNX file: ``engine(x)`` -> list of output tensors.

    Attributes:
        name: ``onnxruntime`` or ``openvino``.
        path: The file.
        input_shape: (N, C, H, W) with ints where the file fixes a size, None where it is dynamic.
        output_names: Output names in the file's order.
    """

    name = ''

    def __init__(self, path: Path, input_shape: Shape, output_names: List[str]):
        self.path = path
        self.input_shape = tuple(d if isinstance(d, int) and d > 0 else None for d in input_shape)
        self.output_names = output_names

    def check_input(self, x: Tensor) -> None:
        """Raise :class:`~hrnet_mm.errors.ConfigError` for an input the file's static shape refuses."""
        fixed = self.input_shape
        if len(fixed) != x.dim() or any(f is not None and f != s for f, s in zip(fixed, x.shape)):
            wanted = tuple('any' if f is None else f for f in fixed)
            raise ConfigError(f'{self.path} takes input of shape {wanted}, got {tuple(x.shape)}; export it with '
                              '--dynamic for other batch sizes and image sizes')

    def run(self, x: np.ndarray) -> List[np.ndarray]:
        raise NotImplementedError

    def __call__(self, x: Tensor) -> List[Tensor]:
        self.check_input(x)
        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        try:
            outputs = self.run(array)
        except Exception as err:  # a file that opens may still fail to run (an op refusing the shapes it meets)
            raise InputError(f'{self.path}: {self.name} failed on an input of shape {tuple(x.shape)}: '
                             f'{engine_reason(err)}') from err
        # Copied: OpenVINO's output tensors are buffers its next run overwrites.
        return [torch.from_numpy(np.array(o, copy=True)) for o in outputs]


class OnnxRuntimeEngine(Engine):
    """onnxruntime's CPU execution provider, graph optimizations on (int8 QDQ pairs become QLinear ops).

    Args:
        path: ONNX file.
        threads: Intra-op threads (None: onnxruntime's default, one per core).
        spinning: Let idle worker threads spin between runs (onnxruntime's default; lowest latency).
            Benchmarks that interleave engines turn it off so that no engine's idle threads slow
            the next one down.
    """

    name = 'onnxruntime'

    def __init__(self, path: Path, threads: Optional[int] = None, spinning: bool = True):
        import onnxruntime as ort
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        if not spinning:
            options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        options.log_severity_level = 3  # errors only: no per-node placement chatter
        self.session = ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        super().__init__(path, tuple(first.shape), [o.name for o in self.session.get_outputs()])

    def run(self, x: np.ndarray) -> List[np.ndarray]:
        return self.session.run(None, {self.input_name: x})


class OpenVinoEngine(Engine):
    """OpenVINO's CPU plugin.

    Args:
        path: ONNX file (float32, or int8 with QuantizeLinear/DequantizeLinear pairs).
        threads: Inference threads (None: OpenVINO's default).
        precision: What the float parts run in: ``f32`` (default here), or ``bf16`` (OpenVINO's own
            default on CPUs with AMX or AVX-512 BF16: faster, about 3 significant digits).
    """

    name = 'openvino'

    def __init__(self, path: Path, threads: Optional[int] = None, precision: str = 'f32'):
        import openvino as ov
        from openvino.frontend import FrontEndManager
        config: Dict[str, Any] = {'INFERENCE_PRECISION_HINT': precision, 'PERFORMANCE_HINT': 'LATENCY'}
        if threads:
            config['INFERENCE_NUM_THREADS'] = threads
        # Read with the ONNX frontend by name: given a path, OpenVINO asks every frontend, and the
        # TensorFlow one writes parse errors straight to stderr for a file that is no model.
        onnx = FrontEndManager().load_by_framework('onnx')
        self.compiled = ov.Core().compile_model(onnx.convert(onnx.load(str(path))), 'CPU', config)
        if not self.compiled.inputs:  # OpenVINO reads an empty file as a model of nothing
            raise ValueError('the file holds no model (no graph input)')
        self.request = self.compiled.create_infer_request()
        dims = [d.get_length() if d.is_static else None for d in self.compiled.input(0).get_partial_shape()]
        names = [next(iter(o.get_names()), str(i)) for i, o in enumerate(self.compiled.outputs)]
        super().__init__(path, tuple(dims), names)

    def run(self, x: np.ndarray) -> List[np.ndarray]:
        self.request.infer({0: x})
        return [self.request.get_output_tensor(i).data for i in range(len(self.compiled.outputs))]


def default_engine() -> str:
    """The engine that runs when none is named: the first of :data:`FASTEST_FIRST` installed.

    Raises:
        MissingPackageError: Neither is installed (the message says how to install them).
    """
    for name in FASTEST_FIRST:
        if installed(name):
            return name
    raise MissingPackageError('running an exported model needs openvino or onnxruntime, and neither is installed; '
                              f'install them with: {INSTALLS["openvino"]}')


def open_engine(path: Union[str, Path], engine: Optional[str] = None, threads: Optional[int] = None,
                **options) -> Engine:
    """Compile an exported ONNX file for the CPU.

    Args:
        path: The ``.onnx`` file.
        engine: One of :data:`ENGINES`; None: :func:`default_engine`.
        threads: Threads the engine may use (None: its default).
        options: Engine-specific keywords (``spinning`` for onnxruntime, ``precision`` for OpenVINO).

    Raises:
        ConfigError: Unknown engine, or no such file.
        InputError: The engine cannot open the file (not ONNX, damaged, an operator or external data it
            lacks); the message names the file and the engine and gives the engine's reason in one line.
        MissingPackageError: The engine's package is not installed (the message says how to install it).
    """
    if engine is not None and engine not in ENGINES:
        raise ConfigError(f'engine must be one of {ENGINES}, got {engine!r}')
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'exported model {path} does not exist')
    engine = engine or default_engine()
    require_module(engine, f'the {engine} engine')
    kind = OpenVinoEngine if engine == 'openvino' else OnnxRuntimeEngine
    try:
        return kind(path, threads, **options)
    except Exception as err:  # each engine raises its own types, with multi-line messages, for a bad file
        raise InputError(f'{path}: cannot be opened by {engine}: {engine_reason(err)}') from err


def engine_reason(err: BaseException, limit: int = 300) -> str:
    """An engine's error in one line of at most ``limit`` characters.

    OpenVINO's messages stack a source location per C++ frame ("Exception from src/...:132:", "Check
    '...' failed at src/...:47:") above the reason, which may itself span lines: the locations are
    dropped and the rest joined.

    Example:
        >>> engine_reason(RuntimeError("Check 'false' failed at src/x.cpp:47:\\nLoading input model\\nno data"))
        'Loading input model no data'
    """
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    said = ' '.join(line for line in lines if not _SOURCE_LOCATION.match(line)) or ' '.join(lines)
    said = said or type(err).__name__
    return said if len(said) <= limit else said[:limit - 3] + '...'


# --- the engine inside the library's own test-time code --------------------------------------------

def _seg_attach(model: Any, engine: Engine) -> None:
    # mmseg: encode_decode = network, then the (last) decode head's resize to the padded image.
    head = model.decode_head[-1] if isinstance(model.decode_head, torch.nn.ModuleList) else model.decode_head

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        return head.predict_by_feat(engine(inputs)[0], batch_img_metas)
    model.encode_decode = MethodType(encode_decode, model)


def _head_attach(model: Any, engine: Engine) -> None:
    # mmpose / mmpretrain: predict() calls head.predict(extract_feat(x)), which calls head.forward once
    # per view (twice with mmpose's flip test): the engine computes forward(extract_feat(x)) in one go.
    model.extract_feat = lambda inputs, *args, **kwargs: engine(inputs)[0]
    model.head.forward = lambda outputs, *args, **kwargs: outputs


def _det_attach(model: Any, engine: Engine) -> None:
    # mmdet: the file holds backbone + neck; the heads (and their weights) stay in PyTorch.
    model.extract_feat = lambda inputs, *args, **kwargs: tuple(engine(inputs))


ATTACH: Dict[str, Callable[[Any, Engine], None]] = {
    'mmseg': _seg_attach, 'mmpose': _head_attach, 'mmpretrain': _head_attach, 'mmdet': _det_attach}


def _require_heads(library: Library, model_file: Union[str, Path], checkpoint: Optional[str]) -> None:
    if library.export_features and checkpoint is None:
        raise ConfigError(f'{model_file} holds the backbone + neck of a detector; pass the checkpoint too '
                          "(--checkpoint), whose heads run in PyTorch on the engine's features")


def attach_engine(model: Any, library: Library, engine: Engine) -> Any:
    """Run ``engine`` in place of ``model``'s network inside the library's test-time code, in place.

    ``model.test_step`` / ``predict`` then give what they give in PyTorch, computed by the engine:
    preprocessing, flip test, resizing, decoding and drawing are the library's own. For detectors the
    engine replaces ``extract_feat`` and the heads keep ``model``'s weights.

    Returns:
        ``model`` (modified in place; its own backbone and heads weights are no longer used, except a
        detector's heads).
    """
    ATTACH[library.name](model, engine)
    return model


def engine_model(config, model_file: Union[str, Path], engine: Optional[str] = None,
                 checkpoint: Optional[str] = None, threads: Optional[int] = None) -> Tuple[Any, Library, Any]:
    """A config's model whose network is the exported file (see :func:`attach_engine`).

    Args:
        config: Config path, packaged name or loaded ``Config``.
        model_file: The ``.onnx`` file exported from that config.
        engine: One of :data:`ENGINES`; None: :func:`default_engine`.
        checkpoint: Weights of what the file leaves out: a detector's heads (required for mmdet).
        threads: Engine threads.

    Returns:
        (model in eval mode, its :class:`~hrnet_mm.apis.libraries.Library`, the ``Config``).

    Raises:
        ConfigError: A detector without ``checkpoint``, or see :func:`open_engine`.
        ModelMismatchError: The file (or ``checkpoint``) was made for another model than the config's
            (:mod:`hrnet_mm.apis.compatibility`), found before the engine opens it.
    """
    from .build import build_checked_model
    from .compatibility import check_export_fits
    model, library, cfg = build_checked_model(config, checkpoint)
    _require_heads(library, model_file, checkpoint)
    check_export_fits(model, model_file, cfg)
    return attach_engine(model, library, open_engine(model_file, engine, threads)), library, cfg


@contextmanager
def _quiet_mmengine() -> Iterator[None]:
    """Silence mmengine's logger and Python warnings (an inferencer built without weights warns about
    random initialization, which is beside the point when an engine supplies the network)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            yield
    finally:
        logger.setLevel(level)


def evaluate(model: Any, cfg: Any, library: Library, split: str = 'test') -> Dict[str, float]:
    """The config's metric of ``model`` (PyTorch, or an engine attached) over its ``test`` / ``val`` split.

    The library's own dataloader, ``test_step`` and evaluator, as its test loop runs them.

    Returns:
        dict: Metric name -> value, as the library's evaluator reports it (``mIoU``, ``coco/AP``, ...).
    """
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    with DefaultScope.overwrite_default_scope(library.name):
        loader = Runner.build_dataloader(cfg[f'{split}_dataloader'])
        evaluator = Evaluator(cfg[f'{split}_evaluator'])
        evaluator.dataset_meta = loader.dataset.metainfo
        with torch.no_grad():
            for batch in loader:
                evaluator.process(data_samples=model.test_step(batch), data_batch=batch)
        with _quiet_mmengine():
            return evaluator.evaluate(len(loader.dataset))


def evaluate_export(config, model_file: Union[str, Path], engine: Optional[str] = None,
                    checkpoint: Optional[str] = None, threads: Optional[int] = None,
                    split: str = 'test') -> Dict[str, float]:
    """The config's metric of an exported file over its ``test`` / ``val`` split: :func:`evaluate` of
    :func:`engine_model`.

    What ``hrnet-mm test CONFIG model.onnx`` prints and what the accuracy table of docs/deploy.md holds:
    the library's own dataloader, ``test_step`` (with the engine in place of the network) and evaluator,
    as the stock ``tools/test.py`` runs them for a checkpoint.

    Args:
        config: Config path, packaged name or loaded ``Config`` (its ``--cfg-options`` merged).
        model_file: The ``.onnx`` file exported from it (float32 or int8).
        engine: One of :data:`ENGINES`; None: :func:`default_engine`.
        checkpoint: A detector's checkpoint (its heads run in PyTorch).
        threads: Engine threads.
        split: ``test`` or ``val``.

    Returns:
        dict: Metric name -> value, as the library's evaluator reports it (``mIoU``, ``coco/AP``, ...).

    Raises:
        ModelMismatchError: The file was made for another model than the config's.
        ConfigError, InputError, MissingPackageError: See :func:`engine_model`.
    """
    model, library, cfg = engine_model(config, model_file, engine, checkpoint, threads)
    return evaluate(model, cfg, library, split)


def _dataset_meta(cfg: Any, library: Library) -> dict:
    """The test dataset's ``metainfo`` (classes, palette, keypoint names, ...), annotations not read."""
    import importlib

    from mmengine.registry import DefaultScope
    datasets = importlib.import_module(f'{library.name}.registry').DATASETS
    with DefaultScope.overwrite_default_scope(library.name):
        return datasets.build(dict(cfg.test_dataloader.dataset, lazy_init=True)).metainfo


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, 'tolist') else str(v)))


def _draw_numpy_maps(inferencer: Any) -> None:
    """Hand mmseg's visualizer each predicted map as a numpy array, not a tensor.

    It indexes a numpy canvas with ``map == label``; numpy reads a one-element bool *tensor* as the
    integer index 1 rather than as a mask, so a 1x1 image fails with an IndexError. With an array the
    same drawing works for every size; what is drawn and saved is unchanged.
    """
    from mmengine.structures import PixelData
    visualize = inferencer.visualize

    def visualize_arrays(inputs: list, preds: list, **kwargs) -> Any:
        for pred in preds:
            if 'pred_sem_seg' in pred:
                pred.pred_sem_seg = PixelData(data=pred.pred_sem_seg.data.cpu().numpy())
        return visualize(inputs, preds, **kwargs)
    inferencer.visualize = visualize_arrays


def _infer_seg(cfg, library, attach, images, out_dir: Path, checkpoint) -> List[dict]:
    from mmseg.apis import MMSegInferencer
    meta = _dataset_meta(cfg, library)
    with _quiet_mmengine():
        inferencer = MMSegInferencer(cfg, checkpoint, classes=meta.get('classes'), palette=meta.get('palette'),
                                     device='cpu')
    inferencer.model.dataset_meta = dict(classes=meta.get('classes'), palette=meta.get('palette'))
    attach(inferencer.model)
    _draw_numpy_maps(inferencer)
    result = inferencer([str(p) for p in images], out_dir=str(out_dir), pred_out_dir='predictions',
                        img_out_dir='visualizations')
    predictions = result['predictions']
    maps = predictions if isinstance(predictions, list) else [predictions]
    return [dict(image=str(p), classes_present=sorted(int(c) for c in np.unique(m))) for p, m in zip(images, maps)]


def _infer_pose(cfg, library, attach, images, out_dir: Path, checkpoint, kpt_thr: float = 0.3) -> List[dict]:
    from mmpose.apis import MMPoseInferencer
    with _quiet_mmengine():  # the whole image is the person box: no person detector
        inferencer = MMPoseInferencer(pose2d=cfg, pose2d_weights=checkpoint, det_model='whole_image', device='cpu')
    attach(inferencer.inferencer.model)
    found = []
    for image in images:
        result = next(inferencer(str(image), out_dir=str(out_dir), kpt_thr=kpt_thr))
        found.append(dict(image=str(image), people=result['predictions'][0]))
    return found


def _infer_cls(cfg, library, attach, images, out_dir: Path, checkpoint) -> List[dict]:
    from mmpretrain.apis import ImageClassificationInferencer

    from .build import build_checked_model
    model, _, _ = build_checked_model(cfg, checkpoint)
    model._config = cfg  # what mmpretrain's inferencers read from a model built by get_model
    model._dataset_meta = _dataset_meta(cfg, library)
    attach(model)
    inferencer = ImageClassificationInferencer(model, classes=model._dataset_meta.get('classes'))
    results = inferencer([str(p) for p in images], show_dir=str(out_dir / 'visualizations'))
    found = []
    for image, result in zip(images, results):
        entry = dict(image=str(image), label=int(result['pred_label']), score=float(result['pred_score']),
                     **({'class': result['pred_class']} if 'pred_class' in result else {}))
        _write_json(out_dir / 'predictions' / (Path(image).stem + '.json'), entry)
        found.append(entry)
    return found


def _infer_det(cfg, library, attach, images, out_dir: Path, checkpoint) -> List[dict]:
    import shutil
    import tempfile

    from mmdet.apis import DetInferencer
    with _quiet_mmengine():
        inferencer = DetInferencer(cfg, checkpoint, device='cpu')
    attach(inferencer.model)
    with tempfile.TemporaryDirectory() as tmp:  # mmdet writes vis/ and preds/: moved to our two names
        result = inferencer([str(p) for p in images], out_dir=tmp, no_save_pred=False)
        for theirs, ours in (('vis', 'visualizations'), ('preds', 'predictions')):
            (out_dir / ours).mkdir(exist_ok=True)
            for file in (Path(tmp) / theirs).glob('*'):
                shutil.move(str(file), str(out_dir / ours / file.name))
    return [dict(image=str(p), boxes=len(r['bboxes'])) for p, r in zip(images, result['predictions'])]


INFER = {'mmseg': _infer_seg, 'mmpose': _infer_pose, 'mmpretrain': _infer_cls, 'mmdet': _infer_det}


def infer_images(config, model_file: Union[str, Path], images: Sequence[Union[str, Path]],
                 out_dir: Union[str, Path], engine: Optional[str] = None, checkpoint: Optional[str] = None,
                 threads: Optional[int] = None, max_pixels: Optional[int] = None,
                 kpt_thr: Optional[float] = None) -> List[dict]:
    """Predict on image files with an exported model (or a PyTorch checkpoint) and draw the results.

    The library's own inferencer reads, preprocesses, predicts and draws each image, with the engine in
    place of the network (:func:`attach_engine`): mmseg's ``MMSegInferencer``, mmpose's
    ``MMPoseInferencer`` (the whole image as the person box), mmpretrain's
    ``ImageClassificationInferencer``, mmdet's ``DetInferencer``. Pictures go to
    ``out_dir/visualizations``, predictions to ``out_dir/predictions``. Each image is checked from its
    header before anything decodes it (:func:`~hrnet_mm.apis.images.check_image`: at most
    ``max_pixels`` pixels); the inferencer decodes it.

    Args:
        config: The config the file was exported from (path, packaged name or ``Config``).
        model_file: An exported ``.onnx`` file, or a ``.pth`` checkpoint to run in PyTorch instead.
        images: Image files.
        out_dir: Output folder.
        engine: One of :data:`ENGINES`; None: :func:`default_engine` (ignored for a checkpoint).
        checkpoint: A detector's weights (its heads run in PyTorch on the engine's features).
        threads: Engine threads.
        max_pixels: Largest width x height of an image (None: ``HRNET_MM_MAX_IMAGE_PIXELS``, else
            100 million; :func:`~hrnet_mm.apis.images.max_pixels`).
        kpt_thr: Pose only: the least keypoint score drawn (None: mmpose's default, 0.3). A model
            trained briefly scores low everywhere, and draws nothing above the default.

    Returns:
        list: One summary dict per image (segmentation: classes present; pose: keypoints and scores
        per person; classification: label and score; detection: number of boxes).

    Raises:
        InputError: An image that is missing, no image, damaged, or over the pixel limit (named), and
            an ONNX file the engine cannot open or run (see :func:`open_engine`).
        ConfigError: A detector without ``checkpoint``, and the errors of :func:`open_engine` and
            :func:`~hrnet_mm.apis.export.build_checked_model`.
        ModelMismatchError: The file or checkpoint was made for another model than the config's (the
            task, classes / keypoints, image channels or HRNet widths differ), found before anything runs.
    """
    from mmengine.registry import DefaultScope

    from .build import build_checked_model, load_config
    from .libraries import library_of
    if isinstance(config, (str, Path)):
        from hrnet_mm.config_lookup import resolve_config
        config = resolve_config(str(config)) if '::' not in str(config).replace('hrnet_mm::', '') else config
    cfg = load_config(config)
    library = library_of(cfg)
    options = {}
    if kpt_thr is not None:
        if library.name != 'mmpose':
            raise ConfigError(f'a keypoint threshold applies to pose configs; this is a {library.name} config')
        options['kpt_thr'] = kpt_thr
    if Path(model_file).suffix.lower() == '.onnx':
        _require_heads(library, model_file, checkpoint)
        from .compatibility import check_export_fits
        # The config's model (with a detector's heads checked against their checkpoint), before the file runs.
        check_export_fits(build_checked_model(copy.deepcopy(cfg), checkpoint)[0], model_file, cfg)
        compiled = open_engine(model_file, engine, threads)

        def attach(model: Any) -> None:
            attach_engine(model, library, compiled)
        weights = checkpoint
    else:
        build_checked_model(copy.deepcopy(cfg), str(model_file))  # a mismatched or damaged checkpoint: one line

        def attach(model: Any) -> None:
            return None
        weights = str(model_file)
    paths = check_images(images, max_pixels)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with DefaultScope.overwrite_default_scope(library.name), naming_unreadable(paths):
        return INFER[library.name](copy.deepcopy(cfg), library, attach, paths, out, weights, **options)
