"""Write a small synthetic face-landmark dataset in mmpose's 300W format (68 points).

One drawn face per image with the 68 landmarks of the 300W mark-up: jaw contour (0-16), brows
(17-26), nose bridge and base (27-35), eyes (36-47), outer and inner lips (48-67). Each face is a 3-D
template with random proportions and expression (brow height, eye opening per side, smile, open
mouth), turned by a random yaw and pitch, projected, then rotated in the image plane, scaled and
placed on a textured background, with hair, neck, skin shading, sometimes glasses and occluder
patches (covered landmarks keep their position, visibility 1). Every landmark of the image's right
half is built as the mirror image of its left-half partner, with the partners of mmpose's 300W
metainfo (``flip_indices``), so horizontal flipping (augmentation, flip test) stays consistent
with the labels. Deterministic by seed; nothing is downloaded.

Annotations are those of mmpose's ``Face300WDataset``: ``center`` and ``scale`` (box side / 200) of
the landmarks' box, ``keypoints`` (68 x 3), ``bbox``, ``area``, ``num_keypoints``.

Layout: <root>/images/{train,val}/*.png, <root>/annotations/face_landmarks_300w_{train,val}.json
Usage: python tools/make_face_data.py --root data/face_demo [--train 500 --val 100]
"""
import math
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .seg_data import texture
from .synthetic_io import cli, write_coco_split, write_splits_once

NUM_KEYPOINTS = 68
IMAGE_SIZE = 128  # square images; faces span about 45-75% of the side
# Landmarks of the image's right half -> their left-half partner (300W mark-up, 0-based).
MIRROR_OF: Dict[int, int] = {
    **{16 - i: i for i in range(8)},                                # jaw
    **{43 - i: i for i in range(17, 22)},                           # brows
    35: 31, 34: 32,                                                 # nose base
    45: 36, 44: 37, 43: 38, 42: 39, 47: 40, 46: 41,                 # eyes
    54: 48, 53: 49, 52: 50, 55: 59, 56: 58, 64: 60, 63: 61, 65: 67,  # lips
}
CENTRE = (8, 27, 28, 29, 30, 33, 51, 57, 62, 66)
LEFT = tuple(sorted(MIRROR_OF.values()))


def flip_indices() -> List[int]:
    """Index of each landmark's horizontal mirror image (its own index on the centre line)."""
    pairs = {**MIRROR_OF, **{left: right for right, left in MIRROR_OF.items()}}
    return [pairs.get(i, i) for i in range(NUM_KEYPOINTS)]


def _jaw_angle(i: int) -> float:
    """Angle on the contour ellipse of jaw point ``i``: 0 at ear height on the left, 8 the chin."""
    return math.pi + 0.3 - i * (math.pi + 0.6) / 16


def _contour(angle: float, shape: dict) -> Tuple[float, float, float]:
    """A point of the face outline (y down, z towards the viewer); the lower face narrows to the chin."""
    down = max(math.sin(angle), 0.0)
    x = shape['width'] * math.cos(angle) * (1 - shape['chin'] * down ** 2)
    y = (shape['length'] if down > 0 else shape['crown']) * math.sin(angle)
    return x, y, -0.5 + 0.8 * down


def _half_face(shape: dict, side: dict) -> Dict[int, Tuple[float, float, float]]:
    """The left-half and centre-line landmarks (face units, y down, z forward) of one side's expression.

    Args:
        shape: Proportions shared by both sides (width, length, nose, mouth, ...).
        side: Brow height and arch, eye opening and smile of this side.
    """
    pts: Dict[int, Tuple[float, float, float]] = {}
    for i in range(9):
        pts[i] = _contour(_jaw_angle(i), shape)
    for k in range(5):  # brow 17..21, outer end first
        x = -(shape['brow_x'] + 0.6 - 0.15 * k)
        pts[17 + k] = (x, side['brow_y'] - side['brow_arch'] * (1 - ((k - 1.5) / 2.5) ** 2), 0.15)
    cx, cy, ew = -shape['eye_x'], shape['eye_y'], shape['eye_w']
    eh = ew * side['eye_open']
    pts.update({36: (cx - ew, cy, 0.1), 37: (cx - ew / 3, cy - eh, 0.18), 38: (cx + ew / 3, cy - eh, 0.18),
                39: (cx + ew, cy, 0.15), 40: (cx + ew / 3, cy + 0.8 * eh, 0.17),
                41: (cx - ew / 3, cy + 0.8 * eh, 0.16)})
    top, length = shape['eye_y'], shape['nose']
    for k in range(4):  # nose bridge 27..30, down to the tip
        pts[27 + k] = (0.0, top + length * k / 3, 0.25 + 0.25 * k / 3)
    base, nw = top + length + 0.08, shape['nose_w']
    pts.update({31: (-nw, base - 0.02, 0.3), 32: (-nw / 2, base + 0.02, 0.36), 33: (0.0, base + 0.04, 0.42)})
    my, mw, smile, gap = base + shape['mouth_y'], shape['mouth_w'], side['smile'], shape['open']
    upper, lower = shape['upper_lip'], shape['lower_lip']
    pts.update({48: (-mw, my - smile, 0.15), 49: (-0.6 * mw, my - 0.9 * upper - 0.5 * smile, 0.25),
                50: (-0.25 * mw, my - 1.1 * upper, 0.3), 51: (0.0, my - 0.85 * upper, 0.32),
                59: (-0.6 * mw, my + gap + 0.8 * lower - 0.3 * smile, 0.24), 58: (-0.25 * mw, my + gap + lower, 0.28),
                57: (0.0, my + gap + 1.05 * lower, 0.3), 60: (-0.85 * mw, my - 0.8 * smile, 0.18),
                61: (-0.35 * mw, my - 0.01 - 0.3 * smile, 0.26), 62: (0.0, my - 0.005, 0.28),
                67: (-0.35 * mw, my + gap - 0.3 * smile, 0.26), 66: (0.0, my + gap + 0.005, 0.28)})
    return pts


def _random_shape(rng: np.random.Generator) -> Tuple[dict, dict, dict]:
    """Proportions, and the left and right side's expression, of one face."""
    shape = dict(width=rng.uniform(0.9, 1.1), length=rng.uniform(1.15, 1.35), crown=rng.uniform(1.2, 1.4),
                 chin=rng.uniform(0.15, 0.35), brow_x=rng.uniform(0.14, 0.22), eye_x=rng.uniform(0.38, 0.46),
                 eye_y=rng.uniform(-0.34, -0.26), eye_w=rng.uniform(0.14, 0.18), nose=rng.uniform(0.32, 0.42),
                 nose_w=rng.uniform(0.16, 0.24), mouth_y=rng.uniform(0.22, 0.3), mouth_w=rng.uniform(0.28, 0.4),
                 upper_lip=rng.uniform(0.06, 0.1), lower_lip=rng.uniform(0.07, 0.12),
                 open=rng.uniform(0.02, 0.16) if rng.random() < 0.4 else 0.0)
    brow_y, eye_open, smile = rng.uniform(-0.6, -0.5), rng.uniform(0.3, 0.55), rng.uniform(-0.05, 0.08)
    sides = []
    for _ in range(2):  # a little asymmetry, now and then a wink
        brow = dict(brow_y=brow_y + rng.uniform(-0.04, 0.04), brow_arch=rng.uniform(0.04, 0.14))
        eye = eye_open * (rng.uniform(0.15, 0.4) if rng.random() < 0.05 else rng.uniform(0.85, 1.15))
        sides.append(dict(**brow, eye_open=eye, smile=smile + rng.uniform(-0.02, 0.02)))
    return shape, sides[0], sides[1]


def face_landmarks(shape: dict, left: dict, right: dict) -> np.ndarray:
    """The 68 landmarks (68, 3) of a frontal face: the right half mirrors ``right``'s left half."""
    pts = np.zeros((NUM_KEYPOINTS, 3))
    own, other = _half_face(shape, left), _half_face(shape, right)
    for i in LEFT + CENTRE:
        pts[i] = own[i]
    for i, partner in MIRROR_OF.items():
        x, y, z = other[partner]
        pts[i] = (-x, y, z)
    return pts


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    turn = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    nod = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return turn @ nod


def _skin(rng: np.random.Generator) -> np.ndarray:
    tone = rng.uniform(0, 1)  # dark to light, BGR
    return np.array([60 + 130 * tone, 80 + 130 * tone, 110 + 120 * tone]) * rng.uniform(0.9, 1.1, 3)


def _poly(points: np.ndarray) -> np.ndarray:
    return np.round(points * 16).astype(np.int32)  # 4 fractional bits, cv2's shift=4


def _fill(img: np.ndarray, points: np.ndarray, colour) -> None:
    cv2.fillPoly(img, [_poly(points)], tuple(float(c) for c in colour), cv2.LINE_AA, shift=4)


def _line(img: np.ndarray, points: np.ndarray, colour, thickness: int, closed: bool = False) -> None:
    cv2.polylines(img, [_poly(points)], closed, tuple(float(c) for c in colour), thickness, cv2.LINE_AA, shift=4)


def make_sample(rng: np.random.Generator, size: int = IMAGE_SIZE):
    """One image and its 300W annotation.

    Returns:
        (image (size, size, 3) uint8 BGR, keypoints (68, 3) with visibility 2 or 1 (covered),
        centre (2,), scale (box side / 200), bbox [x, y, w, h]).
    """
    shape, left, right = _random_shape(rng)
    pts3 = face_landmarks(shape, left, right)
    # Outline points that are not landmarks: forehead arc (for skin and hair) and the neck.
    crown = np.array([_contour(a, shape) for a in np.linspace(-0.3, -math.pi + 0.3, 15)])
    neck = np.array([(-0.42, 0.7, -0.4), (0.42, 0.7, -0.4), (0.5, 2.2, -0.4), (-0.5, 2.2, -0.4)])
    rot = _rotation(rng.uniform(-0.6, 0.6), rng.uniform(-0.25, 0.25))
    roll = rng.uniform(-0.5, 0.5)
    in_plane = np.array([[math.cos(roll), -math.sin(roll)], [math.sin(roll), math.cos(roll)]])
    scale = rng.uniform(0.2, 0.3) * size  # pixels per face unit

    def place(points: np.ndarray) -> np.ndarray:
        return (points @ rot.T)[:, :2] @ in_plane.T * scale

    kp = place(pts3)
    lo, hi = kp.min(0), kp.max(0)
    offset = size / 2 - (lo + hi) / 2 + rng.uniform(-0.08, 0.08, 2) * size
    kp += offset
    crown2, neck2 = place(crown) + offset, place(neck) + offset

    img: np.ndarray = texture(rng, size).astype(np.float32)
    skin = _skin(rng)
    hair = rng.uniform(10, 90, 3) * (rng.uniform(1.0, 2.5) if rng.random() < 0.3 else 1.0)
    _fill(img, neck2, skin * 0.8)
    if rng.random() < 0.85:  # hair behind the head: the upper outline, enlarged
        outline = np.concatenate([kp[[16]], crown2, kp[[0]]])
        centre = kp[[0, 16]].mean(0)
        _fill(img, centre + (outline - centre) * rng.uniform(1.08, 1.2), hair)
    face_outline = np.concatenate([kp[0:17], crown2])
    mask = np.zeros(img.shape[:2], np.uint8)
    _fill(mask, face_outline, (1,))
    # Light from one side: a gradient across the face.
    direction = rng.normal(size=2)
    yy, xx = np.mgrid[0:size, 0:size]
    shade = 1 + 0.25 * np.tanh(((xx - size / 2) * direction[0] + (yy - size / 2) * direction[1]) / size)
    img[mask > 0] = (skin[None, :] * shade[mask > 0][:, None])
    _line(img, kp[0:17], skin * 0.6, 1)  # jaw shadow
    brow = hair * 0.8
    thick = max(1, int(round(scale * 0.06)))
    _line(img, kp[17:22], brow, thick)
    _line(img, kp[22:27], brow, thick)
    iris = rng.uniform(20, 120, 3)
    gaze = rng.uniform(-0.3, 0.3, 2)
    for eye in (kp[36:42], kp[42:48]):
        eye_mask = np.zeros(img.shape[:2], np.uint8)
        _fill(eye_mask, eye, (1,))
        layer = np.full_like(img, 235.0)
        radius = 0.35 * np.linalg.norm(eye[3] - eye[0])
        centre = eye.mean(0) + gaze * radius
        cv2.circle(layer, tuple(int(v) for v in np.round(centre * 16)), int(radius * 16), tuple(iris), -1,
                   cv2.LINE_AA, shift=4)
        cv2.circle(layer, tuple(int(v) for v in np.round(centre * 16)), int(radius * 7), (10, 10, 10), -1,
                   cv2.LINE_AA, shift=4)
        img[eye_mask > 0] = layer[eye_mask > 0]
        _line(img, eye, (30, 30, 40), 1, closed=True)
    _line(img, kp[27:31], skin * 0.75, 1)
    _line(img, kp[31:36], skin * 0.55, 1)
    for nostril in (kp[32], kp[34]):
        cv2.circle(img, tuple(int(v) for v in np.round((nostril - (kp[33] - kp[30]) * 0.3) * 16)),
                   max(8, int(scale * 0.035 * 16)), tuple(skin * 0.35), -1, cv2.LINE_AA, shift=4)
    lips = skin * np.array([0.6, 0.55, 1.0]) * rng.uniform(0.75, 1.0)
    _fill(img, kp[48:60], lips)
    if shape['open'] > 0:
        _fill(img, kp[60:68], (40, 30, 50))
    _line(img, kp[[60, 61, 62, 63, 64]], lips * 0.5, 1)
    if rng.random() < 0.15:  # glasses: rims around the eyes and a bridge
        rim = rng.uniform(0, 80, 3)
        centres = [kp[36:42].mean(0), kp[42:48].mean(0)]
        radius = 0.8 * np.linalg.norm(kp[39] - kp[36])
        for c in centres:
            cv2.circle(img, tuple(int(v) for v in np.round(c * 16)), int(radius * 16), tuple(rim), 1, cv2.LINE_AA,
                       shift=4)
        _line(img, np.array(centres) + (centres[1] - centres[0]) * np.array([[0.35], [-0.35]]), rim, 1)

    visibility = np.full(NUM_KEYPOINTS, 2)
    for _ in range(rng.integers(0, 3) if rng.random() < 0.5 else 0):  # occluders: a patch over some points
        w, h = rng.uniform(0.3, 0.8, 2) * scale
        x0, y0 = kp[rng.integers(NUM_KEYPOINTS)] - rng.uniform(0, 1, 2) * (w, h)
        x0, y0, x1, y1 = (int(round(v)) for v in (x0, y0, x0 + w, y0 + h))
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        patch = texture(rng, max(x1 - x0, y1 - y0))[:y1 - y0, :x1 - x0]
        img[y0:y1, x0:x1] = patch
        covered = (kp[:, 0] >= x0) & (kp[:, 0] < x1) & (kp[:, 1] >= y0) & (kp[:, 1] < y1)
        visibility[covered] = 1

    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.0))
    img = img * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20) + rng.normal(0, rng.uniform(1, 5), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)

    lo, hi = kp.min(0), kp.max(0)
    centre = (lo + hi) / 2
    keypoints = np.concatenate([kp, visibility[:, None]], 1)
    bbox = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
    return img, keypoints, centre, float(max(hi - lo) / 200), bbox


def write_split(root: Path, split: str, count: int, rng: np.random.Generator) -> None:
    def make():
        img, keypoints, centre, scale, bbox = make_sample(rng)
        return img, [dict(category_id=1, iscrowd=0, bbox=bbox, area=bbox[2] * bbox[3], num_keypoints=NUM_KEYPOINTS,
                          center=[round(float(v), 3) for v in centre], scale=round(scale, 5),
                          keypoints=[round(float(v), 3) for v in keypoints.reshape(-1)])]

    categories = [dict(id=1, name='face', supercategory='person', keypoints=[], skeleton=[])]
    write_coco_split(root, split, count, make, f'face_landmarks_300w_{split}.json', categories)


def generate(root: str, train: int = 500, val: int = 100, seed: int = 0) -> Path:
    """Write the dataset once (a stamp skips identical regeneration); returns the root."""
    return write_splits_once(root, {'version': 1, 'format': '300w'}, write_split, {'train': train, 'val': val}, seed)


def main() -> None:
    """Command line: ``python -m hrnet_mm.synthetic.face_data --root DIR [...]``."""
    cli(__doc__, 'data/face_demo', {'train': 500, 'val': 100, 'seed': 0}, generate)


if __name__ == '__main__':
    main()
