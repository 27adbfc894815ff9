"""`python tools/benchmark.py topdown`: top-down pose on image files from given boxes, ours against MMPoseInferencer.

One process, one pose config (default: HRNet-W32 256x192 with seeded random weights and BN
statistics), the same JPEG images and the same boxes for every path. Each run processes 32 boxes:
32 images of 1 box, 4 of 8 or 1 of 32, the boxes read from a COCO detections file. Timed, taking
turns round by round after a warm-up run each, with ``--threads`` threads everywhere:

- ``MMPoseInferencer``: mmpose's inferencer on the image files, its detector replaced by one that
  returns the file's boxes (mmpose 1.3.2's inferencer drops a ``bboxes=`` argument), box NMS off;
  writes its drawings and predictions, as ``hrnet-mm infer-pose`` did before;
- ``ours PyTorch fp32``: :func:`hrnet_mm.apis.inference.run_topdown` with the checkpoint
  (BatchNorm folded, crops of consecutive images batched up to ``--batch-size``); writes drawings
  and ``keypoints.json``;
- ``ours <engine> fp32`` / ``int8``: the same with ``hrnet-mm export --dynamic`` of the checkpoint
  and its int8 form (calibrated on random normal inputs: the timing does not depend on the ranges),
  in the default engine, when onnx and an engine are installed.

Each row gives images/s (median run and quartiles), the ratio of the inferencer's median time to the
row's, measured in the same rounds, and the largest keypoint distance from the inferencer's
keypoints in the first run.
"""
import argparse
import json
import logging
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .timing import interleaved

CONFIG = 'configs/hrnet_pose/td-hm_hrnetv1-w32_4xb32-210e_coco-256x192.py'
BOXES_PER_IMAGE = (1, 8, 32)
CROPS_PER_RUN = 32
IMAGE_SIZE = (480, 640)  # (H, W): COCO's common size
BASELINE = 'MMPoseInferencer'
# docs/benchmarks.md's aim: (boxes per image, row) -> least speed-up over MMPoseInferencer
TARGETS = {(8, 'ours PyTorch fp32'): 3.0}


def make_images(root: Path, count: int, seed: int = 0) -> List[Path]:
    """``count`` JPEG images of smooth gradients and filled shapes (natural-image-like to decode)."""
    import cv2
    rng = np.random.default_rng(seed)
    h, w = IMAGE_SIZE
    paths = []
    for i in range(count):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * (1 + c) + yy * (3 - c)) % 256 for c in range(3)], -1).astype(np.uint8)
        for _ in range(12):
            center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            color = tuple(int(v) for v in rng.integers(0, 256, 3))
            cv2.ellipse(base, center, (int(rng.integers(10, 80)), int(rng.integers(20, 160))),
                        float(rng.uniform(0, 180)), 0, 360, color, -1)
        paths.append(root / f'{i:012d}.jpg')
        cv2.imwrite(str(paths[-1]), base, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return paths


def make_boxes(paths: Sequence[Path], per_image: int, seed: int = 0) -> List[dict]:
    """COCO detections: ``per_image`` person-shaped boxes inside each image, scores in (0.5, 1)."""
    rng = np.random.default_rng(seed)
    h, w = IMAGE_SIZE
    found = []
    for path in paths:
        for _ in range(per_image):
            bh = float(rng.uniform(80, h * 0.9))
            bw = float(bh * rng.uniform(0.3, 0.7))
            x, y = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
            found.append(dict(image_id=int(path.stem), bbox=[x, y, bw, bh], score=float(rng.uniform(0.5, 1.0)),
                              category_id=1))
    return found


class GivenDetector:
    """What MMPoseInferencer calls as its detector: the boxes of the file named by ``input``, label 0."""

    def __init__(self, detections: Sequence[dict]):
        from mmdet.structures import DetDataSample  # noqa: F401  (fails early without mmdet)
        self.by_id: Dict[int, List[dict]] = {}
        for det in detections:
            self.by_id.setdefault(det['image_id'], []).append(det)

    def __call__(self, input: str, **kwargs: Any) -> dict:
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData
        dets = self.by_id.get(int(Path(input).stem), [])
        xywh = np.array([d['bbox'] for d in dets], np.float32).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        sample = DetDataSample()
        sample.pred_instances = InstanceData(bboxes=torch.from_numpy(xyxy),
                                             scores=torch.tensor([d['score'] for d in dets]),
                                             labels=torch.zeros(len(dets), dtype=torch.long))
        return dict(predictions=[sample])


def mmpose_inferencer(config: str, checkpoint: str, detections: Sequence[dict]) -> Any:
    from mmpose.apis import MMPoseInferencer

    from hrnet_mm.apis.runtime import _quiet_mmengine
    with _quiet_mmengine():
        inferencer = MMPoseInferencer(pose2d=config, pose2d_weights=checkpoint, det_model='whole_image',
                                      device='cpu')
    inferencer.inferencer.detector = GivenDetector(detections)
    inferencer.inferencer.det_cat_ids = (0,)
    return inferencer


def keypoints_by_box(people: Sequence[dict]) -> Dict[Tuple[str, Tuple[float, ...]], np.ndarray]:
    """Keypoints keyed by (image file name, box rounded to 0.01 px): the inferencer reorders boxes by score."""
    return {(Path(p['image']).name, tuple(np.round(np.ravel(p['bbox']), 2))): np.asarray(p['keypoints'])
            for p in people}


def build_case(per_image: int, work: Path, checkpoint: str, onnx_files: Dict[str, Path], args: argparse.Namespace,
               log: Callable[[str], None]) -> dict:
    """One boxes-per-image case, timed: ``stats`` per row, ``distance`` (largest keypoint distance from the
    inferencer's, px) per row, ``images`` per run."""
    from hrnet_mm.apis.inference import run_topdown
    from hrnet_mm.apis.topdown import BoxFile, TopdownPose, image_sizes
    count = max(1, CROPS_PER_RUN // per_image)
    images = make_images(work, count, seed=per_image)
    detections = make_boxes(images, per_image, seed=per_image)
    box_file = work / 'boxes.json'
    box_file.write_text(json.dumps(detections))
    source = BoxFile(box_file)
    source.prepare(images, image_sizes(images))
    inferencer = mmpose_inferencer(args.config, checkpoint, detections)
    outputs: Dict[str, List[dict]] = {}

    def theirs() -> None:
        found = []
        for path, result in zip(images, inferencer([str(p) for p in images], out_dir=str(work / 'mmpose'),
                                                   nms_thr=1.0, bbox_thr=0.0)):
            found += [dict(image=str(path), bbox=p['bbox'][0], keypoints=p['keypoints'])
                      for p in result['predictions'][0]]
        outputs.setdefault(BASELINE, found)

    runs: Dict[str, Callable[[], object]] = {BASELINE: theirs}
    models = {'ours PyTorch fp32': TopdownPose(args.config, checkpoint, batch_size=args.batch_size)}
    for kind, path in onnx_files.items():
        model = TopdownPose(args.config, path, batch_size=args.batch_size, threads=args.threads)
        models[f'ours {model.runs_on} {kind}'] = model
    for name, model in models.items():
        def ours(name: str = name, model: Any = model) -> None:
            outputs.setdefault(name, run_topdown(model, images, source, work / name.replace(' ', '_')))
        runs[name] = ours
    log(f'[{per_image} box(es) per image] {count} image(s) per run; rows: {", ".join(runs)}')
    with torch.no_grad():
        for fn in runs.values():
            fn()  # fills outputs; counts as the first warm-up call
        stats = interleaved(runs, args.repeats, max(0, args.warmup - 1), 'cpu', log=log)
    reference = keypoints_by_box(outputs[BASELINE])
    distance = {}
    for name, people in outputs.items():
        got = keypoints_by_box(people)
        assert got.keys() == reference.keys(), f'{name}: other boxes than the inferencer'
        distance[name] = max(float(np.linalg.norm(got[k] - reference[k], axis=-1).max()) for k in reference)
    return dict(stats=stats, distance=distance, images=count)


def export_files(config: str, checkpoint: str, work: Path, log: Callable[[str], None]) -> Dict[str, Path]:
    """The float32 and int8 ONNX files of the checkpoint, or none where onnx or an engine is missing."""
    from hrnet_mm.apis.export import export_onnx
    from hrnet_mm.apis.quantize import quantize_onnx
    from hrnet_mm.apis.runtime import installed
    if not (installed('onnx') and installed('onnxruntime') and (installed('openvino') or installed('onnxruntime'))):
        log('onnx / an engine is not installed: no exported rows')
        return {}
    from hrnet_mm.apis.build import load_config
    from hrnet_mm.apis.libraries import library_of
    cfg = load_config(config)
    shape = (1, 3, *library_of(cfg).input_size(cfg))
    fp32 = export_onnx(config, checkpoint, work / 'pose.onnx', shape, dynamic=True)
    gen = torch.Generator().manual_seed(2)
    int8 = work / 'pose.int8.onnx'
    quantize_onnx(fp32, int8, [torch.randn(*shape, generator=gen) for _ in range(4)])
    log(f'exported {fp32.name} and {int8.name}')
    return {'fp32': fp32, 'int8': int8}


def markdown(results: dict) -> str:
    lines = [f"{results['config']} with random weights; {results['threads']} threads, {results['repeats']} "
             f"interleaved rounds; {CROPS_PER_RUN} boxes per run; batch size {results['batch_size']}\n",
             '| boxes per image | path | images/s (quartiles) | vs MMPoseInferencer | max keypoint distance px |',
             '|---|---|---|---|---|']
    for per_image, case in results['cases'].items():
        base = case['stats'][BASELINE]['median_s']
        for row, s in case['stats'].items():
            n = case['images']
            lines.append(f"| {per_image} | {row} | {n / s['median_s']:.3g} ({n / s['q3_s']:.3g}-{n / s['q1_s']:.3g}) | "
                         f"{base / s['median_s']:.2f}x | {case['distance'][row]:.2g} |")
    if results['targets']:
        lines += ['\n| target | measured | held |', '|---|---|---|']
        lines += [f"| {t['row']} at {t['boxes']} boxes per image >= {t['target']:.1f}x MMPoseInferencer | "
                  f"{t['ratio']:.2f}x | {'yes' if t['held'] else 'no'} |" for t in results['targets']]
    return '\n'.join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(allow_abbrev=False, prog='tools/benchmark.py topdown', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default=CONFIG, help=f'top-down pose config (default {CONFIG})')
    p.add_argument('--boxes', nargs='+', type=int, default=list(BOXES_PER_IMAGE),
                   help='boxes per image, one case each (default 1 8 32)')
    p.add_argument('--repeats', type=int, default=3, help='timed runs per row (default 3)')
    p.add_argument('--warmup', type=int, default=1, help='untimed runs per row first, at least 1 (default 1)')
    p.add_argument('--threads', type=int, default=2, help='torch and engine threads (default 2)')
    p.add_argument('--batch-size', type=int, default=32, help='our crops per forward (default 32)')
    p.add_argument('--no-onnx', action='store_true', help='skip the exported rows')
    p.add_argument('--json', help='also write the results here')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    from hrnet_mm.testing.exports import save_random_checkpoint
    results: dict = dict(config=args.config, threads=args.threads, repeats=args.repeats, batch_size=args.batch_size,
                         cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
                         load_average=os.getloadavg()[0], torch=torch.__version__, cases={}, targets=[])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        checkpoint = save_random_checkpoint(args.config, work / 'pose.pth')
        onnx_files = {} if args.no_onnx else export_files(args.config, checkpoint, work, log)
        for per_image in args.boxes:
            case_dir = work / f'boxes{per_image}'
            case_dir.mkdir()
            case = build_case(per_image, case_dir, checkpoint, onnx_files, args, log)
            results['cases'][per_image] = case
            base = case['stats'][BASELINE]['median_s']
            for (boxes, row), target in TARGETS.items():
                if boxes == per_image and row in case['stats']:
                    ratio = base / case['stats'][row]['median_s']
                    results['targets'].append(dict(boxes=boxes, row=row, target=target, ratio=ratio,
                                                   held=ratio >= target))
    results['load_average_after'] = os.getloadavg()[0]
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0
