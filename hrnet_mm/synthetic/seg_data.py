"""Write a small synthetic semantic-segmentation dataset in mmseg's ADE-style layout.

``<root>/images/{training,validation}/*.png`` and ``<root>/annotations/{training,validation}/*.png``
(label PNGs: 0 background, 1..5 shape classes). Objects of five shape classes, each with its own
colour family (jittered hue and brightness), of varied size, overlapping, drawn on textured
backgrounds. Deterministic by seed; nothing is downloaded.

Usage: python tools/make_seg_data.py --root data/seg_demo [--train 400 --val 80 --size 128]
"""
import math
from pathlib import Path

import cv2
import numpy as np

from .synthetic_io import cli, write_splits_once

CLASSES = ('background', 'disc', 'square', 'triangle', 'cross', 'ring')
PALETTE = ((0, 0, 0), (220, 60, 60), (60, 180, 75), (65, 105, 225), (240, 200, 40), (170, 80, 200))
# Base hue (OpenCV, 0..179) of each shape class; every object jitters it.
HUES = {1: 0, 2: 60, 3: 115, 4: 28, 5: 145}


def texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Low-contrast background: blurred noise plus stripes or a checkerboard, random tint."""
    noise = rng.normal(0, 1, (size // 8 + 1, size // 8 + 1, 3))
    base = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:size, 0:size]
    period = rng.uniform(6, 20)
    angle = rng.uniform(0, math.pi)
    pattern = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / period)
    if rng.random() < 0.5:
        pattern = np.sign(np.sin(xx * 2 * math.pi / period) * np.sin(yy * 2 * math.pi / period))
    tint = rng.uniform(70, 170, 3)
    img = tint + 18 * base + rng.uniform(5, 20) * pattern[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _colour(rng: np.random.Generator, cls: int) -> tuple:
    hue = (HUES[cls] + rng.integers(-6, 7)) % 180
    hsv = np.array([[[hue, rng.integers(150, 256), rng.integers(150, 256)]]], dtype=np.uint8)
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _draw(mask: np.ndarray, cls: int, cx: int, cy: int, r: int, angle: float) -> None:
    """Rasterize one shape of class ``cls`` (value 1) into ``mask``."""
    if cls == 1:
        cv2.circle(mask, (cx, cy), r, 1, -1)
    elif cls in (2, 3):
        corners = 4 if cls == 2 else 3
        angles = [angle + 2 * math.pi * k / corners for k in range(corners)]
        pts = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles]
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    elif cls == 4:
        for a in (angle, angle + math.pi / 2):
            dx, dy = r * math.cos(a), r * math.sin(a)
            cv2.line(mask, (round(cx - dx), round(cy - dy)), (round(cx + dx), round(cy + dy)), 1, max(3, r // 3))
    else:
        cv2.circle(mask, (cx, cy), r, 1, max(3, r // 3))


def make_sample(rng: np.random.Generator, size: int):
    img = texture(rng, size)
    label = np.zeros((size, size), np.uint8)
    for _ in range(rng.integers(2, 6)):
        cls = int(rng.integers(1, len(CLASSES)))
        r = int(rng.integers(size // 14, size // 4))
        cx, cy = (int(v) for v in rng.integers(r // 2, size - r // 2, 2))
        mask = np.zeros_like(label)
        _draw(mask, cls, cx, cy, r, rng.uniform(0, 2 * math.pi))
        shade = rng.uniform(0.8, 1.1, (size, size, 1))  # soft lighting gradient across the object
        colour = np.array(_colour(rng, cls), np.float32)
        painted = np.clip(colour * shade + rng.normal(0, 6, (size, size, 3)), 0, 255).astype(np.uint8)
        img[mask > 0] = painted[mask > 0]
        label[mask > 0] = cls  # later objects occlude earlier ones
    return img, label


def write_split(root: Path, split: str, count: int, size: int, rng: np.random.Generator) -> None:
    img_dir, ann_dir = root / 'images' / split, root / 'annotations' / split
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img, label = make_sample(rng, size)
        cv2.imwrite(str(img_dir / f'{split}_{i:04d}.png'), img)
        cv2.imwrite(str(ann_dir / f'{split}_{i:04d}.png'), label)


def generate(root: str, train: int = 400, val: int = 80, size: int = 128, seed: int = 0) -> Path:
    """Write the dataset (train and val use independent streams of one seed); returns the root."""
    def write_sized(out: Path, split: str, count: int, rng: np.random.Generator) -> None:
        write_split(out, split, count, size, rng)

    return write_splits_once(root, {'size': size, 'classes': CLASSES}, write_sized,
                             {'training': train, 'validation': val}, seed)


def main() -> None:
    """Command line: ``python tools/make_seg_data.py --root DIR [...]``."""
    cli(__doc__, 'data/seg_demo', {'train': 400, 'val': 80, 'size': 128, 'seed': 0}, generate)
