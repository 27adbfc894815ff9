"""``infer_pose``: top-down pose on image files from boxes, drawn and written as COCO keypoint results.

:func:`run_topdown` is its second half (a built model in, files out), which the benchmark times.
"""
import json
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Union

from hrnet_mm.errors import InputError

from .topdown import BoxSource, TopdownPose, WholeImage, coco_keypoints, draw_people, image_sizes, pose_config

PathLike = Union[str, Path]
RESULTS_FILE = 'keypoints.json'


def infer_pose(config: Any, model: PathLike, images: Union[PathLike, Sequence[PathLike]], out_dir: PathLike,
               device: str = 'cpu', max_pixels: Optional[int] = None, boxes: Optional[BoxSource] = None,
               batch_size: int = 32, kpt_thr: float = 0.3, engine: Optional[str] = None,
               threads: Optional[int] = None, log: Optional[Callable[[str], None]] = None) -> List[dict]:
    """Run a top-down pose model on the boxes of image files; draw the keypoints and write them as COCO results.

    The crops of all boxes go through mmpose's own test pipeline and ``test_step`` in batches
    (:class:`~hrnet_mm.apis.topdown.TopdownPose`), so the keypoints are those of ``MMPoseInferencer``
    given the same boxes. Every image is checked from its header before anything decodes it
    (:func:`~hrnet_mm.apis.images.check_images`), and the boxes are checked against the image sizes
    before the model is built.

    Writes ``out_dir/visualizations/<image name>`` (skeleton and keypoints scoring above ``kpt_thr``)
    and ``out_dir/keypoints.json``: ``[{"image_id", "category_id", "keypoints": [x, y, score, ...],
    "score", "bbox": [x, y, w, h]}]`` (:func:`~hrnet_mm.apis.topdown.coco_keypoints`).

    Args:
        config: The pose config: a path, a packaged name (``hrnet_pose/<name>.py``) or a ``pkg::`` name
            (:func:`~hrnet_mm.config_lookup.resolve_config`), or a loaded ``Config``.
        model: Its ``.pth`` checkpoint, or an ``.onnx`` file exported from it (float32 or int8).
        images: One image file or several.
        out_dir: Output folder.
        device: Torch device of a checkpoint's model.
        max_pixels: Largest width x height of an image (None: ``HRNET_MM_MAX_IMAGE_PIXELS``, else 100
            million).
        boxes: Where the boxes come from (None: :class:`~hrnet_mm.apis.topdown.WholeImage`).
        batch_size: Crops per forward.
        kpt_thr: Least keypoint score drawn.
        engine: Engine of an ``.onnx`` file (None: the fastest installed).
        threads: Engine threads.
        log: Told one line per image without boxes (None: silent).

    Returns:
        list: One dict per person over all images, in the images' and boxes' order: ``image`` (path),
        ``image_id``, ``bbox`` (x1, y1, x2, y2), ``bbox_score``, ``category_id``, ``keypoints``
        (K x [x, y]) and ``keypoint_scores`` (K).

    Raises:
        FileNotFoundError: No such config or checkpoint.
        ConfigError: The config is no top-down mmpose config, the checkpoint does not fit it, or a
            detector config is no mmdet config.
        InputError: An image that is missing, no image, damaged, or over the pixel limit; a box file
            that cannot be used or a box outside its image (each named); an ONNX file no engine opens; a
            drawing OpenCV cannot write in the image's format.
    """
    from .images import check_images
    cfg = pose_config(config)  # a wrong config fails before the images are looked at
    paths = check_images([images] if isinstance(images, (str, Path)) else list(images), max_pixels)
    source = boxes if boxes is not None else WholeImage()
    source.prepare(paths, image_sizes(paths))
    predictor = TopdownPose(cfg, model, device, batch_size, engine, threads)
    return run_topdown(predictor, paths, source, out_dir, kpt_thr, log)


def run_topdown(predictor: TopdownPose, images: Sequence[Path], boxes: BoxSource, out_dir: PathLike,
                kpt_thr: float = 0.3, log: Optional[Callable[[str], None]] = None) -> List[dict]:
    """What :func:`infer_pose` does once its model is built: predict, draw, write the COCO results.

    Args:
        predictor: The pose model. images: Checked image files. boxes: Their boxes, prepared
            (:meth:`~hrnet_mm.apis.topdown.BoxSource.prepare`). out_dir: Output folder.
        kpt_thr: Least keypoint score drawn. log: Told one line per image without boxes.

    Returns:
        list: See :func:`infer_pose`.
    """
    import cv2
    out = Path(out_dir)
    drawings = out / 'visualizations'
    drawings.mkdir(parents=True, exist_ok=True)

    def empty(path: Path) -> None:
        if log is not None:
            log(f'{path}: {boxes.describe_empty()}')
    people, results = [], []
    for result in predictor(images, boxes, on_empty=empty):
        found = [p for p in result.people if p is not None]
        drawing = drawings / result.path.name
        if not cv2.imwrite(str(drawing), draw_people(result.pixels, found, predictor.dataset_meta, kpt_thr)):
            raise InputError(f'image {result.path}: OpenCV cannot write its drawing {drawing} in that format')
        results += coco_keypoints(result)
        people += [dict(image=str(result.path), image_id=result.boxes.image_id, **p.as_dict()) for p in found]
    (out / RESULTS_FILE).write_text(json.dumps(results))
    return people
