"""Write a small synthetic image-classification dataset, one folder per class (mmpretrain's CustomDataset).

``<root>/{train,val}/<class>/<split>_<index>.png``, classes ``cross, disc, ring, square, star,
triangle`` (alphabetical, the order in which CustomDataset numbers the folders). Each image shows one
shape of its class, of random colour, size, position and rotation, on a textured background
(blurred noise, gratings or checkerboards) with a few small distractor specks. Colour carries no
class information: only the shape does. The classes are balanced in both splits. Deterministic
by seed; nothing is downloaded.

Usage: python tools/make_cls_data.py --root data/cls_demo [--train 3000 --val 300 --size 64]
"""
import math
from pathlib import Path

import cv2
import numpy as np

from .synthetic_io import cli, write_splits_once

CLASSES = ('cross', 'disc', 'ring', 'square', 'star', 'triangle')
assert list(CLASSES) == sorted(CLASSES), 'CustomDataset numbers class folders alphabetically'


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Tinted blurred noise under a grating (random period and angle) or a checkerboard."""
    coarse = rng.normal(0, 1, (size // 6 + 2, size // 6 + 2, 3))
    noise = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_LINEAR)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    period = rng.uniform(5, 16)
    if rng.random() < 0.6:
        theta = rng.uniform(0, math.pi)
        pattern = np.sin((xx * math.cos(theta) + yy * math.sin(theta)) * 2 * math.pi / period)
    else:
        pattern = np.sign(np.sin(xx * math.pi / period) * np.sin(yy * math.pi / period))
    tint = rng.uniform(60, 190, 3)
    img = tint + 15 * noise + rng.uniform(6, 22) * pattern[..., None]
    return np.clip(img, 0, 255)


def _polygon(cx: float, cy: float, radii, angle: float) -> np.ndarray:
    n = len(radii)
    pts = [(cx + r * math.cos(angle + 2 * math.pi * k / n), cy + r * math.sin(angle + 2 * math.pi * k / n))
           for k, r in enumerate(radii)]
    return np.round(pts).astype(np.int32)


def draw_shape(mask: np.ndarray, name: str, cx: float, cy: float, r: float, angle: float) -> None:
    """Rasterize one shape of class ``name`` (value 1) into the uint8 ``mask``."""
    thick = max(2, round(r / 3))
    if name == 'disc':
        cv2.circle(mask, (round(cx), round(cy)), round(r), 1, -1)
    elif name == 'ring':
        cv2.circle(mask, (round(cx), round(cy)), round(r - thick / 2), 1, thick)
    elif name == 'square':
        cv2.fillPoly(mask, [_polygon(cx, cy, [r] * 4, angle)], 1)
    elif name == 'triangle':
        cv2.fillPoly(mask, [_polygon(cx, cy, [r * 1.15] * 3, angle)], 1)
    elif name == 'star':
        cv2.fillPoly(mask, [_polygon(cx, cy, [r * 1.15, r * 0.45] * 5, angle)], 1)
    elif name == 'cross':
        for a in (angle, angle + math.pi / 2):
            dx, dy = r * math.cos(a), r * math.sin(a)
            cv2.line(mask, (round(cx - dx), round(cy - dy)), (round(cx + dx), round(cy + dy)), 1, thick)
    else:
        raise ValueError(f'unknown class {name!r}; classes: {CLASSES}')


def _colour(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A saturated colour of random hue, brighter or darker than the background around it."""
    hsv = np.array([[[rng.integers(0, 180), rng.integers(130, 256), 0]]], dtype=np.uint8)
    level = float(background.mean())
    bright = rng.random() < 0.5 or level < 90
    low, high = (int(min(level + 50, 215)), 256) if bright else (10, int(max(level - 50, 30)))
    hsv[0, 0, 2] = rng.integers(low, high)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float64)


def make_sample(rng: np.random.Generator, size: int, label: int) -> np.ndarray:
    """One (size, size, 3) uint8 BGR image of class ``CLASSES[label]``."""
    img = _background(rng, size)
    for _ in range(rng.integers(0, 4)):  # small specks: clutter that is no class
        speck = np.zeros((size, size), np.uint8)
        cv2.circle(speck, tuple(int(v) for v in rng.integers(0, size, 2)), int(rng.integers(1, 3)), 1, -1)
        img[speck > 0] = rng.uniform(0, 255, 3)
    r = rng.uniform(size * 0.16, size * 0.32)
    cx, cy = rng.uniform(r + 2, size - r - 2, 2)
    mask = np.zeros((size, size), np.uint8)
    draw_shape(mask, CLASSES[label], cx, cy, r, rng.uniform(0, 2 * math.pi))
    shade = rng.uniform(0.85, 1.1) + np.linspace(-0.1, 0.1, size)[None, :, None] * rng.choice([-1, 1])
    painted = np.clip(_colour(rng, img[mask > 0]) * shade + rng.normal(0, 5, (size, size, 3)), 0, 255)
    img[mask > 0] = painted[mask > 0]
    return img.astype(np.uint8)


def write_split(root: Path, split: str, count: int, size: int, rng: np.random.Generator) -> None:
    """``count`` images, classes in turn (balanced), under ``root/split/<class>/``."""
    for name in CLASSES:
        (root / split / name).mkdir(parents=True, exist_ok=True)
        for old in (root / split / name).glob('*.png'):  # a smaller rewrite must not keep stale images
            old.unlink()
    for i in range(count):
        label = i % len(CLASSES)
        cv2.imwrite(str(root / split / CLASSES[label] / f'{split}_{i:05d}.png'), make_sample(rng, size, label))


def generate(root: str, train: int = 3000, val: int = 300, size: int = 64, seed: int = 0) -> Path:
    """Write the dataset (train and val use independent streams of one seed); returns the root."""
    def write_sized(out: Path, split: str, count: int, rng: np.random.Generator) -> None:
        write_split(out, split, count, size, rng)

    return write_splits_once(root, {'size': size, 'classes': CLASSES}, write_sized, {'train': train, 'val': val},
                             seed)


def main() -> None:
    """Command line: ``python tools/make_cls_data.py --root DIR [...]``."""
    cli(__doc__, 'data/cls_demo', {'train': 3000, 'val': 300, 'size': 64, 'seed': 0}, generate)

