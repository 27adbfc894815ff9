"""Write a small synthetic top-down pose dataset in COCO keypoints format.

One articulated stick figure per image (the 17 COCO keypoints and skeleton) with varied limb angles,
rotation, scale and position on a textured background; some keypoints hidden under occluder
patches (visibility 1), the rest visible (2). All limbs share one colour per figure, so left and
right are told apart by geometry alone and horizontal flipping (augmentation, flip test) stays
consistent with the labels. Deterministic by seed; nothing is downloaded.

Layout: <root>/images/{train,val}/*.png, <root>/annotations/person_keypoints_{train,val}.json
Usage: python tools/make_pose_data.py --root data/pose_demo [--train 500 --val 100]
"""
import math
from pathlib import Path

import cv2
import numpy as np

from .synthetic_io import cli, write_coco_split, write_splits_once

KEYPOINTS = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder',
             'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
             'right_knee', 'left_ankle', 'right_ankle')
SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9], [8, 10],
            [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]  # COCO, 1-based
LIMBS = [(5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16), (5, 6), (11, 12), (5, 11), (6, 12)]


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    noise = cv2.resize(rng.normal(0, 1, (h // 8 + 1, w // 8 + 1, 3)), (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w]
    period, angle = rng.uniform(8, 24), rng.uniform(0, math.pi)
    stripes = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / period)
    img = rng.uniform(60, 180, 3) + 20 * noise + rng.uniform(5, 15) * stripes[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _pose(rng: np.random.Generator) -> np.ndarray:
    """17 keypoints of a figure facing the viewer (its left on the image's right), in body units."""
    kp = np.zeros((17, 2))
    shoulder, hip = rng.uniform(0.18, 0.26), rng.uniform(0.12, 0.18)
    torso = rng.uniform(0.45, 0.55)
    kp[5], kp[6] = (shoulder, 0), (-shoulder, 0)
    kp[11], kp[12] = (hip, torso), (-hip, torso)
    head = np.array([rng.uniform(-0.03, 0.03), -0.22])
    kp[0] = head + (0, 0.02)
    kp[1], kp[2] = head + (0.05, -0.03), head + (-0.05, -0.03)
    kp[3], kp[4] = head + (0.10, -0.01), head + (-0.10, -0.01)

    def limb(start, angle, length):
        return start + length * np.array([math.sin(angle), math.cos(angle)])

    for side, s in ((1, 0), (-1, 1)):  # left side (+x) then right side (-x)
        upper = side * rng.uniform(0.1, 2.4)       # arm angle from hanging down, outwards
        kp[7 + s] = limb(kp[5 + s], upper, 0.30)
        kp[9 + s] = limb(kp[7 + s], upper + side * rng.uniform(-1.2, 1.2), 0.27)
        thigh = side * rng.uniform(-0.05, 0.6)
        kp[13 + s] = limb(kp[11 + s], thigh, 0.38)
        kp[15 + s] = limb(kp[13 + s], thigh + side * rng.uniform(-0.6, 0.3), 0.36)
    return kp


def make_sample(rng: np.random.Generator, height: int = 160, width: int = 128):
    """One image and its annotation: keypoints (17, 3) with COCO visibility, bbox (x, y, w, h), area."""
    img = _texture(rng, height, width)
    kp = _pose(rng)
    angle = rng.uniform(-0.5, 0.5)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    scale = rng.uniform(0.38, 0.58) * height
    pts = kp @ rot.T * scale
    pts += np.array([width / 2, height / 2]) - (pts.min(0) + pts.max(0)) / 2 + rng.uniform(-8, 8, 2)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    thick = max(2, int(scale * 0.05))
    ipts = [tuple(p) for p in np.round(pts).astype(int).tolist()]
    for a, b in LIMBS:
        cv2.line(img, ipts[a], ipts[b], colour, thick, cv2.LINE_AA)
    centre = tuple(np.round((pts[3] + pts[4]) / 2).astype(int).tolist())
    cv2.circle(img, centre, int(scale * 0.12), colour, thick, cv2.LINE_AA)
    dot = tuple(255 - c for c in colour)
    for point in ipts:  # joints and face points as dots of the complementary colour
        cv2.circle(img, point, max(1, thick // 2 + 1), dot, -1, cv2.LINE_AA)
    visibility = np.full(17, 2)
    for _ in range(rng.integers(0, 3)):  # occluder patches: covered keypoints stay labelled, v=1
        w, h = rng.integers(int(scale * 0.15), int(scale * 0.35), 2)
        x0, y0 = rng.integers(0, max(1, width - w)), rng.integers(0, max(1, height - h))
        img[y0:y0 + h, x0:x0 + w] = _texture(rng, h, w)
        inside = (pts[:, 0] >= x0) & (pts[:, 0] < x0 + w) & (pts[:, 1] >= y0) & (pts[:, 1] < y0 + h)
        visibility[inside] = 1
    inside_img = (pts[:, 0] >= 0) & (pts[:, 0] < width) & (pts[:, 1] >= 0) & (pts[:, 1] < height)
    visibility[~inside_img] = 0
    x0, y0 = np.clip(pts.min(0) - scale * 0.08, 0, None)
    x1, y1 = np.minimum(pts.max(0) + scale * 0.08, [width - 1, height - 1])
    keypoints = np.concatenate([pts, visibility[:, None]], 1)
    keypoints[visibility == 0] = 0
    bbox = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
    return img, keypoints, bbox, float(bbox[2] * bbox[3] * 0.6)


def write_split(root: Path, split: str, count: int, rng: np.random.Generator) -> None:
    def make():
        img, keypoints, bbox, area = make_sample(rng)
        return img, [dict(category_id=1, iscrowd=0, bbox=bbox, area=area,
                          num_keypoints=int((keypoints[:, 2] > 0).sum()),
                          keypoints=[round(float(v), 2) for v in keypoints.reshape(-1)])]

    categories = [dict(id=1, name='person', supercategory='person', keypoints=list(KEYPOINTS), skeleton=SKELETON)]
    write_coco_split(root, split, count, make, f'person_keypoints_{split}.json', categories)


def generate(root: str, train: int = 500, val: int = 100, seed: int = 0) -> Path:
    """Write the dataset once (a stamp skips identical regeneration); returns the root."""
    return write_splits_once(root, {'version': 1}, write_split, {'train': train, 'val': val}, seed)


def main() -> None:
    """Command line: ``python tools/make_pose_data.py --root DIR [...]``."""
    cli(__doc__, 'data/pose_demo', {'train': 500, 'val': 100, 'seed': 0}, generate)
