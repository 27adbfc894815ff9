"""Top-down pose on image files: boxes in, keypoints out, the crops of many boxes and images per batch.

A top-down pose model sees one box at a time, cropped and warped to its input size. Where the boxes
come from is a :class:`BoxSource`:

- :class:`WholeImage`: the whole image is one box (no detector).
- :class:`GivenBoxes`: the same ``x, y, w, h`` boxes on every image (``--box``).
- :class:`BoxFile`: a COCO detections file (``--boxes``; the matching of its entries to the images
  is described there).
- :class:`Detector`: any mmdet config + checkpoint (``--det-config`` / ``--det-checkpoint``), keeping
  the boxes of one label above a score threshold.

:class:`TopdownPose` runs a pose config with a ``.pth`` checkpoint (PyTorch, BatchNorm folded) or an
exported ``.onnx`` file (:mod:`hrnet_mm.apis.runtime` engines). Everything around the network is
mmpose's own: each image is decoded once by the config's ``LoadImage``; every box goes through the
rest of the config's test pipeline (``GetBBoxCenterScale``, ``TopdownAffine``, ``PackPoseInputs``);
``model.test_step`` runs the data preprocessor, the flip test, the head's codec and the mapping back
to image coordinates. So the keypoints are mmpose's (``MMPoseInferencer``'s, given the same boxes),
only computed with fewer decodes and larger batches: crops of consecutive images share a batch of
up to ``batch_size``.

Example:
    >>> parse_box('10,20,30,40')
    (10.0, 20.0, 30.0, 40.0)
"""
import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from hrnet_mm.errors import ConfigError, InputError, short_line

from .images import image_size, naming_unreadable

PathLike = Union[str, Path]
ImageId = Union[int, str]
XYWH = Tuple[float, float, float, float]
# Decoded images waiting for the rest of their batch: at most this many pixels (about 150 MB as
# 8-bit BGR), else the batch runs early. Crops are small; the images they come from need not be.
PENDING_PIXELS = 50_000_000
PERSON_CATEGORY = 1  # COCO's person; what a keypoint result names when its boxes name no category


# --- boxes ------------------------------------------------------------------------------------------

@dataclass
class Boxes:
    """The boxes of one image.

    Attributes:
        xyxy: (N, 4) float32 corners ``x1, y1, x2, y2`` in pixels.
        scores: (N,) float32 box scores (1 where the source gives none).
        category_ids: N categories the keypoint results are written with.
        image_id: What the keypoint results name the image with.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    category_ids: List[int]
    image_id: ImageId

    def __len__(self) -> int:
        return len(self.xyxy)


def default_image_id(path: PathLike) -> ImageId:
    """The file name's stem; an int where it is all digits (COCO's ``000000000139.jpg`` is image 139)."""
    stem = Path(path).stem
    return int(stem) if stem.isdigit() else stem


def parse_box(text: str) -> XYWH:
    """``x,y,w,h`` (pixels, top-left corner and size) -> four floats.

    Raises:
        ConfigError: Not four numbers, a non-finite one, or a width or height <= 0.
    """
    parts = text.replace(' ', '').split(',')
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ConfigError(f'a box is x,y,w,h (four numbers), got {text!r}')
    if values[2] <= 0 or values[3] <= 0:
        raise ConfigError(f'a box needs a width and height > 0, got {text!r}')
    return values  # type: ignore[return-value]


def xywh_to_xyxy(boxes: Sequence[Sequence[float]]) -> np.ndarray:
    """(N, 4) ``x, y, w, h`` -> float32 (N, 4) ``x1, y1, x2, y2``, in float32 as mmpose converts COCO boxes."""
    xyxy = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    xyxy[:, 2:] += xyxy[:, :2]
    return xyxy


def check_inside(xyxy: np.ndarray, size: Tuple[int, int], image: PathLike, source: str) -> None:
    """Raise :class:`~hrnet_mm.errors.InputError` for a box that does not overlap its image.

    Args:
        xyxy: (N, 4) corners. size: The image's (width, height). image: Its file. source: Where the
            boxes come from (named in the message).
    """
    width, height = size
    for x1, y1, x2, y2 in xyxy.tolist():
        if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
            raise InputError(f'{source}: box x,y,w,h = {x1:g},{y1:g},{x2 - x1:g},{y2 - y1:g} lies outside image '
                             f'{image} ({width}x{height})')


class BoxSource:
    """Where the boxes of each image come from.

    :meth:`prepare` sees every image's size (from its header) before anything is decoded or built, so
    that a box file that does not fit the images fails first; :meth:`__call__` gives one decoded
    image's boxes.
    """

    def prepare(self, images: Sequence[Path], sizes: Sequence[Tuple[int, int]]) -> None:
        """Check the boxes against the images (width, height); default: nothing to check."""

    def __call__(self, image: Path, pixels: np.ndarray) -> Boxes:
        raise NotImplementedError

    def describe_empty(self) -> str:
        """What an image without boxes is told (one line)."""
        return 'no boxes'


class WholeImage(BoxSource):
    """The whole image as one box of score 1 (``MMPoseInferencer`` without a detector does the same)."""

    def __call__(self, image: Path, pixels: np.ndarray) -> Boxes:
        height, width = pixels.shape[:2]
        return Boxes(np.array([[0, 0, width, height]], dtype=np.float32), np.ones(1, np.float32),
                     [PERSON_CATEGORY], default_image_id(image))


class GivenBoxes(BoxSource):
    """The same boxes on every image, score 1.

    Args:
        boxes: ``x, y, w, h`` each (:func:`parse_box`).
    """

    def __init__(self, boxes: Sequence[XYWH]):
        if not boxes:
            raise ConfigError('no box given')
        self.xyxy = xywh_to_xyxy(boxes)

    def prepare(self, images: Sequence[Path], sizes: Sequence[Tuple[int, int]]) -> None:
        for image, size in zip(images, sizes):
            check_inside(self.xyxy, size, image, '--box')

    def __call__(self, image: Path, pixels: np.ndarray) -> Boxes:
        return Boxes(self.xyxy.copy(), np.ones(len(self.xyxy), np.float32), [PERSON_CATEGORY] * len(self.xyxy),
                     default_image_id(image))


class BoxFile(BoxSource):
    """Boxes from a COCO detections file.

    The file holds either a list of detections ``{"image_id", "bbox": [x, y, w, h], "score",
    "category_id"}`` (``score`` and ``category_id`` optional), or a COCO annotation file: a dict with
    ``"images"`` (``{"id", "file_name"}``) and ``"annotations"`` (detections as above).

    An entry belongs to an image given on the command line when its ``image_id`` is, first found:
    the ``id`` of an ``"images"`` record whose ``file_name`` has the image's file name; a string equal
    to the image's file name or its stem; an integer equal to a stem of digits (COCO's
    ``000000000139.jpg`` is image 139). Entries of other images are ignored; an image without entries
    gets no people. Entries at or below ``score_thr`` and, with ``category_id`` given, of other
    categories are dropped.

    Args:
        path: The JSON file.
        score_thr: Keep boxes whose score is above it (a box without a score has score 1).
        category_id: Keep only this category (None: all).
    """

    def __init__(self, path: PathLike, score_thr: float = 0.0, category_id: Optional[int] = None):
        self.path = Path(path)
        self.score_thr = score_thr
        self.category_id = category_id
        self.by_image: Dict[Path, Boxes] = {}

    def _fail(self, what: str) -> InputError:
        return InputError(f'box file {self.path}: {what}')

    def _read(self) -> Tuple[List[Any], Dict[Any, str]]:
        if not self.path.is_file():
            raise InputError(f'box file {self.path} does not exist')
        try:
            data = json.loads(self.path.read_text(encoding='utf-8'))
        except (ValueError, UnicodeDecodeError) as err:
            raise self._fail(f'not JSON ({short_line(err, 120)})') from None
        names: Dict[Any, str] = {}
        if isinstance(data, dict):
            if not isinstance(data.get('annotations'), list) or not isinstance(data.get('images'), list):
                raise self._fail('a dict must hold "images" and "annotations" lists (COCO); or give a list of '
                                 'detections')
            for i, record in enumerate(data['images']):
                if not isinstance(record, dict) or not isinstance(record.get('file_name'), str) \
                        or 'id' not in record:
                    raise self._fail(f'images[{i}] needs "id" and "file_name"')
                names[_hashable(record['id'])] = Path(record['file_name']).name
            data = data['annotations']
        if not isinstance(data, list):
            raise self._fail(f'expected a list of detections, got {type(data).__name__}')
        return data, names

    def _entry(self, i: int, entry: Any) -> Tuple[Any, XYWH, float, int]:
        if not isinstance(entry, dict) or 'image_id' not in entry or 'bbox' not in entry:
            raise self._fail(f'entry {i} needs "image_id" and "bbox": [x, y, w, h]')
        bbox = entry['bbox']
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_finite(v) for v in bbox):
            raise self._fail(f'entry {i}: bbox must be [x, y, w, h] (four finite numbers), got {str(bbox)[:80]}')
        if bbox[2] <= 0 or bbox[3] <= 0:
            raise self._fail(f'entry {i}: bbox {bbox} has a width or height <= 0')
        score = entry.get('score', 1.0)
        if not _finite(score):
            raise self._fail(f'entry {i}: score must be a finite number, got {str(score)[:40]}')
        category = entry.get('category_id', PERSON_CATEGORY)
        if not isinstance(category, int) or isinstance(category, bool):
            raise self._fail(f'entry {i}: category_id must be an integer, got {str(category)[:40]}')
        return _hashable(entry['image_id']), tuple(float(v) for v in bbox), float(score), category  # type: ignore

    def prepare(self, images: Sequence[Path], sizes: Sequence[Tuple[int, int]]) -> None:
        entries, names = self._read()
        keys: Dict[Any, List[Path]] = {}
        for image in images:
            own = {image.name, image.stem} | ({int(image.stem)} if image.stem.isdigit() else set())
            own |= {i for i, name in names.items() if name == image.name}
            for key in own:
                if image not in keys.setdefault(key, []):
                    keys[key].append(image)
        found: Dict[Path, List[Tuple[Any, XYWH, float, int]]] = {image: [] for image in images}
        matched = 0
        for i, entry in enumerate(entries):
            image_id, xywh, score, category = self._entry(i, entry)
            owners = keys.get(image_id, [])
            if len(owners) > 1:
                raise InputError(f'images {owners[0]} and {owners[1]} both match image_id {image_id!r} of box file '
                                 f'{self.path}; give images with different names')
            if not owners:
                continue
            matched += 1
            if score > self.score_thr and (self.category_id is None or category == self.category_id):
                found[owners[0]].append((image_id, xywh, score, category))
        if entries and not matched:
            shown = ', '.join(repr(_hashable(e.get('image_id'))) for e in entries[:3] if isinstance(e, dict))
            raise self._fail(f'no entry belongs to the images given (image_id {shown}, ...; an image_id is matched '
                             'to a file name, its stem, a stem of digits, or an "images" record)')
        for image, size in zip(images, sizes):
            rows = found[image]
            xyxy = xywh_to_xyxy([r[1] for r in rows])
            check_inside(xyxy, size, image, f'box file {self.path}')
            image_id = rows[0][0] if rows else default_image_id(image)
            self.by_image[image] = Boxes(xyxy, np.array([r[2] for r in rows], np.float32), [r[3] for r in rows],
                                         image_id)

    def __call__(self, image: Path, pixels: np.ndarray) -> Boxes:
        return self.by_image[image]

    def describe_empty(self) -> str:
        kept = f' of category {self.category_id}' if self.category_id is not None else ''
        return f'no boxes{kept} above --bbox-thr {self.score_thr:g} in {self.path}'


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (int, str)) and not isinstance(value, bool) else json.dumps(value)


class Detector(BoxSource):
    """Boxes from an mmdet config + checkpoint: its ``test_step`` on each decoded image.

    The config's test pipeline runs, minus its annotation loading, on the image already decoded (no
    second decode). Boxes of label ``category`` scoring above ``score_thr`` are kept, as mmdet's own
    NMS left them.

    Args:
        config: An mmdet config (path, packaged ``hrnet_det/<name>.py`` or ``pkg::`` name).
        checkpoint: Its weights.
        category: The detector's label to keep (0-based, as mmdet numbers its classes; 0 is COCO's person).
        score_thr: Keep boxes scoring above it.
        device: Torch device.

    Raises:
        ConfigError: The config is no mmdet config, or the checkpoint does not fit it.
    """

    def __init__(self, config: PathLike, checkpoint: str, category: int = 0, score_thr: float = 0.3,
                 device: str = 'cpu'):
        from hrnet_mm.config_lookup import load_config

        from .libraries import library_of
        cfg = load_config(config)
        library = library_of(cfg).name
        if library != 'mmdet':
            raise ConfigError(f'detector config {config} is an {library} config; --det-config takes mmdet configs '
                              '(hrnet_det/..., mmdet::...)')
        self.cfg, self.checkpoint, self.device = cfg, checkpoint, device
        self.category, self.score_thr = category, score_thr
        self.model: Any = None
        self.pipeline: Any = None

    def prepare(self, images: Sequence[Path], sizes: Sequence[Tuple[int, int]]) -> None:
        """Build the detector (a checkpoint that does not fit fails here, before the pose model is built)."""
        if self.model is None:
            self._build()

    def _build(self) -> None:
        from mmengine.dataset import Compose
        from mmengine.registry import DefaultScope

        from .build import build_checked_model
        from .runtime import _quiet_mmengine
        with _quiet_mmengine():
            model, _, cfg = build_checked_model(copy.deepcopy(self.cfg), self.checkpoint)
        steps = [copy.deepcopy(s) for s in cfg.test_dataloader.dataset.pipeline
                 if not str(s['type']).endswith('LoadAnnotations')]
        steps[0] = dict(type='mmdet.LoadImageFromNDArray')  # the image is decoded already
        with DefaultScope.overwrite_default_scope('mmdet'):
            self.pipeline = Compose(steps)
        model.cfg = cfg
        self.model = model.to(self.device)

    def __call__(self, image: Path, pixels: np.ndarray) -> Boxes:
        from mmdet.apis import inference_detector
        from mmengine.registry import DefaultScope
        if self.model is None:
            self._build()
        with DefaultScope.overwrite_default_scope('mmdet'):
            found = inference_detector(self.model, pixels, test_pipeline=self.pipeline).pred_instances.cpu().numpy()
        keep = (found.labels == self.category) & (found.scores > self.score_thr)
        xyxy = np.asarray(found.bboxes[keep], dtype=np.float32).reshape(-1, 4)
        return Boxes(xyxy, np.asarray(found.scores[keep], dtype=np.float32), [PERSON_CATEGORY] * len(xyxy),
                     default_image_id(image))

    def describe_empty(self) -> str:
        return f'no boxes of label {self.category} above --bbox-thr {self.score_thr:g}'


# --- the pose model -----------------------------------------------------------------------------------

@dataclass
class Person:
    """One box's keypoints.

    Attributes:
        bbox: ``x1, y1, x2, y2``. bbox_score: Its score. category_id: Its category.
        keypoints: (K, 2) image coordinates. keypoint_scores: (K,).
    """

    bbox: List[float]
    bbox_score: float
    category_id: int
    keypoints: np.ndarray
    keypoint_scores: np.ndarray

    def as_dict(self) -> dict:
        """Plain JSON types: ``keypoints`` as K x [x, y], ``keypoint_scores`` as K floats."""
        return dict(bbox=self.bbox, bbox_score=self.bbox_score, category_id=self.category_id,
                    keypoints=self.keypoints.tolist(), keypoint_scores=self.keypoint_scores.tolist())


@dataclass
class ImageResult:
    """The people found on one image.

    Attributes:
        path: The image file. pixels: The decoded image (H, W, 3) BGR. boxes: Its boxes.
        people: One :class:`Person` per box, in the boxes' order.
    """

    path: Path
    pixels: np.ndarray
    boxes: Boxes
    people: List[Optional[Person]] = field(default_factory=list)

    def done(self) -> bool:
        return all(p is not None for p in self.people)


class _FixedBatch:
    """An engine whose file fixes the batch size: other batches run in chunks, the last padded with zeros."""

    def __init__(self, engine: Any):
        self.engine = engine
        self.size = engine.input_shape[0]

    def __call__(self, x: torch.Tensor) -> List[torch.Tensor]:
        if x.shape[0] == self.size:
            return self.engine(x)
        parts = []
        for start in range(0, x.shape[0], self.size):
            chunk = x[start:start + self.size]
            missing = self.size - chunk.shape[0]
            if missing:
                chunk = torch.cat([chunk, chunk.new_zeros(missing, *chunk.shape[1:])])
            parts.append([out[:self.size - missing] for out in self.engine(chunk)])
        return [torch.cat(outs) for outs in zip(*parts)]


def pose_config(config: Any) -> Any:
    """Load a top-down mmpose config (a loaded ``Config`` is checked and returned as is).

    Raises:
        FileNotFoundError: No such config.
        ConfigError: Not an mmpose config, or not a top-down one.
    """
    from hrnet_mm.config_lookup import load_config

    from .libraries import library_of
    cfg = load_config(config)
    library = library_of(cfg).name
    if library != 'mmpose':
        raise ConfigError(f'config {config} is an {library} config; infer-pose takes mmpose configs (hrnet_pose/...)')
    if cfg.model.get('type') != 'TopdownPoseEstimator':
        raise ConfigError(f'config {config} is a {cfg.model.get("type")} model; infer-pose runs top-down pose '
                          'models (TopdownPoseEstimator), one box at a time')
    return cfg


class TopdownPose:
    """A top-down pose model over image files and their boxes, many boxes per batch.

    Args:
        config: The pose config (path, packaged ``hrnet_pose/<name>.py``, ``pkg::`` name or ``Config``).
        model_file: A ``.pth`` checkpoint (run in PyTorch, BatchNorm folded into the convs), or an
            ``.onnx`` file exported from this config (float32 or int8; run by ``engine``).
        device: Torch device of the PyTorch model (an exported file runs on the CPU).
        batch_size: Crops per forward (flip test: twice that many network inputs).
        engine: Engine for an ``.onnx`` file (None: :func:`~hrnet_mm.apis.runtime.default_engine`).
        threads: Engine threads (None: its default).
        fold_bn: Fold BatchNorm into the convs of the PyTorch model (same keypoints up to float rounding).

    Attributes:
        model: The ``TopdownPoseEstimator`` (for a file, with the engine in place of its network).
        dataset_meta: Keypoint names, flip pairs, skeleton and colours: the checkpoint's, else the config's.
    """

    def __init__(self, config: Any, model_file: PathLike, device: str = 'cpu', batch_size: int = 32,
                 engine: Optional[str] = None, threads: Optional[int] = None, fold_bn: bool = True):
        from mmengine.dataset import Compose
        from mmengine.registry import DefaultScope

        from hrnet_mm.inference_rewrites import switch_to_deploy

        from .build import build_checked_model
        from .runtime import _quiet_mmengine, attach_engine, open_engine
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f'batch_size must be a positive integer, got {batch_size!r}')
        self.batch_size = batch_size
        cfg = pose_config(config)
        model_file = Path(model_file)
        onnx = model_file.suffix.lower() == '.onnx'
        with _quiet_mmengine():
            model, library, cfg = build_checked_model(copy.deepcopy(cfg), None if onnx else str(model_file))
        if onnx:
            from .compatibility import check_export_fits
            check_export_fits(model, model_file, cfg)  # a file of another model fails before the engine opens it
            compiled = open_engine(model_file, engine, threads)
            fixed = compiled.input_shape[0]
            attach_engine(model, library, _FixedBatch(compiled) if fixed else compiled)  # type: ignore[arg-type]
            self.device = 'cpu'
            self.runs_on = compiled.name
        else:
            if fold_bn:
                switch_to_deploy(model)
            self.device = device
            model.to(device)
            self.runs_on = 'PyTorch'
        self.dataset_meta = _dataset_meta(cfg, None if onnx else model_file)
        model.dataset_meta = self.dataset_meta
        self.model, self.cfg = model, cfg
        steps = copy.deepcopy(list(cfg.test_dataloader.dataset.pipeline))
        is_load = [str(s['type']).endswith('LoadImage') for s in steps]
        with DefaultScope.overwrite_default_scope('mmpose'):
            self.load = Compose([s for s, load in zip(steps, is_load) if load] or [dict(type='LoadImage')])
            self.crop = Compose([s for s, load in zip(steps, is_load) if not load])

    def crops(self, loaded: dict, boxes: Boxes) -> List[dict]:
        """One packed model input per box (the test pipeline after ``LoadImage``), as the inferencer packs them."""
        packed = []
        for xyxy, score in zip(boxes.xyxy, boxes.scores):
            info = dict(loaded, bbox=xyxy[None, :].copy(), bbox_score=np.array([score], np.float32))
            info.update(self.dataset_meta)
            packed.append(self.crop(info))
        return packed

    def predict(self, packed: Sequence[dict]) -> List[Tuple[np.ndarray, np.ndarray]]:
        """``model.test_step`` on packed crops: (keypoints (K, 2), scores (K,)) in image pixels per crop."""
        from mmengine.dataset import pseudo_collate
        with torch.no_grad():
            samples = self.model.test_step(pseudo_collate(list(packed)))
        return [(np.asarray(s.pred_instances.keypoints[0]), np.asarray(s.pred_instances.keypoint_scores[0]))
                for s in samples]

    def __call__(self, images: Sequence[Path], boxes: BoxSource,
                 on_empty: Optional[Callable[[Path], None]] = None) -> Iterator[ImageResult]:
        """The people on each image, in the images' order, crops of consecutive images batched together.

        Args:
            images: Image files (checked already: :func:`~hrnet_mm.apis.images.check_images`).
            boxes: Their boxes (:meth:`BoxSource.prepare` called already).
            on_empty: Called with an image that has no boxes.

        Yields:
            ImageResult: One per image, as soon as all its boxes have run.
        """
        queue: List[Tuple[ImageResult, int, dict]] = []
        waiting: List[ImageResult] = []
        for path in images:
            with naming_unreadable([path]):
                loaded = self.load(dict(img_path=str(path)))
            found = boxes(path, loaded['img'])
            result = ImageResult(path, loaded['img'], found, [None] * len(found))
            if not len(found) and on_empty is not None:
                on_empty(path)
            queue += [(result, i, c) for i, c in enumerate(self.crops(loaded, found))]
            waiting.append(result)
            while len(queue) >= self.batch_size:
                queue = self._run(queue, self.batch_size)
            if sum(r.pixels.shape[0] * r.pixels.shape[1] for r in waiting) > PENDING_PIXELS:
                queue = self._run(queue, len(queue))
            while waiting and waiting[0].done():
                yield waiting.pop(0)
        self._run(queue, len(queue))
        yield from waiting

    def _run(self, queue: List[Tuple[ImageResult, int, dict]], count: int) -> List[Tuple[ImageResult, int, dict]]:
        """Run the first ``count`` queued crops (in batches of at most ``batch_size``); return the rest."""
        for start in range(0, count, self.batch_size):
            batch = queue[start:min(start + self.batch_size, count)]
            for (result, i, _), (keypoints, scores) in zip(batch, self.predict([c for _, _, c in batch])):
                found = result.boxes
                result.people[i] = Person([float(v) for v in found.xyxy[i]], float(found.scores[i]),
                                          found.category_ids[i], keypoints, scores)
        return queue[count:]


def _dataset_meta(cfg: Any, checkpoint: Optional[Path]) -> dict:
    """The checkpoint's ``meta.dataset_meta``, else the config's training dataset's (mmpose's own order)."""
    from mmpose.apis.inference import dataset_meta_from_config
    if checkpoint is not None:
        from hrnet_mm.checkpoint import fetch_checkpoint
        meta = fetch_checkpoint(str(checkpoint)).get('meta') or {}
        if isinstance(meta, dict) and isinstance(meta.get('dataset_meta'), dict):
            return meta['dataset_meta']
    found = dataset_meta_from_config(cfg, dataset_mode='train')
    if found is None:
        raise ConfigError('the pose config names no dataset (train_dataloader.dataset) to take keypoint names, '
                          'flip pairs and skeleton from, and the checkpoint holds none')
    return found


# --- what is written --------------------------------------------------------------------------------

def draw_people(pixels: np.ndarray, people: Sequence[Person], meta: dict, kpt_thr: float = 0.3) -> np.ndarray:
    """The image with each person's skeleton and keypoints scoring above ``kpt_thr`` drawn on a copy.

    Args:
        pixels: (H, W, 3) BGR image.
        people: What to draw.
        meta: Dataset meta (``skeleton_links``, ``skeleton_link_colors``, ``keypoint_colors``; RGB).
        kpt_thr: Least keypoint score drawn (a link needs both ends above it).

    Returns:
        np.ndarray: (H, W, 3) BGR drawing.
    """
    import cv2
    canvas = np.ascontiguousarray(pixels.copy())
    size = max(canvas.shape[:2])
    radius, thickness = max(1, round(size / 160)), max(1, round(size / 320))
    links = list(meta.get('skeleton_links') or [])
    link_colors = _colors(meta.get('skeleton_link_colors'), len(links), (0, 255, 0))
    for person in people:
        points, scores = person.keypoints, person.keypoint_scores
        point_colors = _colors(meta.get('keypoint_colors'), len(points), (255, 128, 0))
        for (a, b), color in zip(links, link_colors):
            if a < len(points) and b < len(points) and scores[a] > kpt_thr and scores[b] > kpt_thr:
                cv2.line(canvas, _pixel(points[a]), _pixel(points[b]), color, thickness, cv2.LINE_AA)
        for point, score, color in zip(points, scores, point_colors):
            if score > kpt_thr:
                cv2.circle(canvas, _pixel(point), radius, color, -1, cv2.LINE_AA)
    return canvas


def _pixel(point: np.ndarray) -> Tuple[int, int]:
    return int(round(float(point[0]))), int(round(float(point[1])))


def _colors(given: Any, count: int, default: Tuple[int, int, int]) -> List[Tuple[int, int, int]]:
    """``count`` BGR colours from mmpose's RGB list (or array), or ``default`` (RGB) where it lacks them."""
    rows = [] if given is None else [tuple(int(c) for c in row) for row in np.asarray(given).reshape(-1, 3)]
    rows = rows if len(rows) >= count else [default] * count
    return [(b, g, r) for r, g, b in rows[:count]]


def coco_keypoints(result: ImageResult, score_thr: float = 0.2) -> List[dict]:
    """The COCO keypoint results of one image, scored as mmpose's ``CocoMetric`` scores them.

    ``keypoints`` is ``[x, y, score, ...]``; ``score`` is the box score times the mean of the keypoint
    scores above ``score_thr`` (0 where none is); ``bbox`` is ``[x, y, w, h]``.

    Example:
        >>> boxes = Boxes(np.array([[0, 0, 4, 2]], np.float32), np.ones(1, np.float32), [1], 7)
        >>> person = Person([0, 0, 4, 2], 1.0, 1, np.array([[1.0, 1.5]]), np.array([0.5]))
        >>> coco_keypoints(ImageResult(Path('7.png'), np.zeros((2, 4, 3)), boxes, [person]))
        [{'image_id': 7, 'category_id': 1, 'keypoints': [1.0, 1.5, 0.5], 'score': 0.5, 'bbox': [0.0, 0.0, 4.0, 2.0]}]
    """
    found = []
    for person in result.people:
        assert person is not None
        scores = person.keypoint_scores
        above = scores[scores > score_thr]
        x1, y1, x2, y2 = person.bbox
        found.append(dict(image_id=result.boxes.image_id, category_id=person.category_id,
                          keypoints=np.concatenate([person.keypoints, scores[:, None]], axis=1).ravel().tolist(),
                          score=float(person.bbox_score * (above.mean() if len(above) else 0.0)),
                          bbox=[float(x1), float(y1), float(x2 - x1), float(y2 - y1)]))
    return found


def image_sizes(images: Sequence[Path]) -> List[Tuple[int, int]]:
    """(width, height) of each image, from its header (:func:`~hrnet_mm.apis.images.image_size`)."""
    return [image_size(p) for p in images]
