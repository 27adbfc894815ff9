"""Write a small synthetic object-detection dataset in COCO instances format.

Images of 256-320 px with 1-5 objects of three classes (disc, square, triangle; each class its own
colour family), of varied size with about 30% small (16-24 px), lightly overlapping, on textured
backgrounds. Annotations hold boxes and polygon masks. Deterministic by seed; nothing is downloaded.

Layout: <root>/images/{train,val}/*.png, <root>/annotations/instances_{train,val}.json
Usage: python tools/make_det_data.py --root data/det_demo [--train 400 --val 100]
"""
import math
from pathlib import Path
from typing import List

import cv2
import numpy as np

from .seg_data import texture
from .synthetic_io import cli, write_coco_split, write_splits_once

CLASSES = ('disc', 'square', 'triangle')
HUES = (0, 60, 115)  # OpenCV hue of each class, jittered per object


def _polygon(cls: int, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    if cls == 0:
        return np.asarray(cv2.ellipse2Poly((int(cx), int(cy)), (int(r), int(r)), 0, 0, 360, 10), dtype=np.float64)
    corners = 4 if cls == 1 else 3
    return np.array([(cx + r * math.cos(angle + 2 * math.pi * k / corners),
                      cy + r * math.sin(angle + 2 * math.pi * k / corners)) for k in range(corners)])


def _iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def make_sample(rng: np.random.Generator):
    h, w = (int(v) for v in rng.integers(256, 321, 2))
    img = texture(rng, max(h, w))[:h, :w].copy()
    objects: List[tuple] = []
    for _ in range(rng.integers(1, 6)):
        for _attempt in range(20):  # light overlap only: retry placements that cover another object
            cls = int(rng.integers(0, 3))
            side = rng.uniform(16, 24) if rng.random() < 0.3 else rng.uniform(28, 110)
            r = side / 2 * (1.0 if cls == 0 else math.sqrt(2))
            cx, cy = rng.uniform(side / 2 + 2, w - side / 2 - 2), rng.uniform(side / 2 + 2, h - side / 2 - 2)
            poly = _polygon(cls, cx, cy, r, rng.uniform(0, 2 * math.pi))
            poly[:, 0] = poly[:, 0].clip(0, w - 1)
            poly[:, 1] = poly[:, 1].clip(0, h - 1)
            box = (*poly.min(0), *poly.max(0))
            if all(_iou(box, other[1]) < 0.15 for other in objects):
                objects.append((cls, box, poly))
                break
    for cls, _, poly in objects:
        hsv = np.array([[[(HUES[cls] + rng.integers(-6, 7)) % 180, rng.integers(150, 256), rng.integers(150, 256)]]],
                       dtype=np.uint8)
        colour = tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])
        cv2.fillPoly(img, [np.round(poly).astype(np.int32)], colour, cv2.LINE_AA)
    return img, objects


def _annotations(objects) -> List[dict]:
    return [dict(category_id=cls + 1, iscrowd=0, bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                 area=float(cv2.contourArea(poly.astype(np.float32))),
                 segmentation=[[round(float(v), 2) for v in poly.reshape(-1)]])
            for cls, (x0, y0, x1, y1), poly in objects]


def write_split(root: Path, split: str, count: int, rng: np.random.Generator) -> None:
    def make():
        img, objects = make_sample(rng)
        return img, _annotations(objects)

    categories = [dict(id=k + 1, name=name, supercategory='shape') for k, name in enumerate(CLASSES)]
    write_coco_split(root, split, count, make, f'instances_{split}.json', categories)


def generate(root: str, train: int = 400, val: int = 100, seed: int = 0) -> Path:
    """Write the dataset once (a stamp skips identical regeneration); returns the root."""
    return write_splits_once(root, {'version': 1}, write_split, {'train': train, 'val': val}, seed)


def main() -> None:
    """Command line: ``python tools/make_det_data.py --root DIR [...]``."""
    cli(__doc__, 'data/det_demo', {'train': 400, 'val': 100, 'seed': 0}, generate)
