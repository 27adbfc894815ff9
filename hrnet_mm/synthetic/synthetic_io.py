"""Shared plumbing of the synthetic dataset generators: write-once stamps and the command line."""
import argparse
import json
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import cv2
import numpy as np


def write_once(root: str, stamp: dict, write: Callable[[Path], None]) -> Path:
    """Call ``write(root)`` unless ``root/meta.json`` already records the same ``stamp``; returns root."""
    out = Path(root)
    meta = out / 'meta.json'
    stamp = json.loads(json.dumps(stamp))  # tuples -> lists, as they come back from the file
    if meta.exists() and json.loads(meta.read_text()) == stamp:
        return out
    out.mkdir(parents=True, exist_ok=True)
    write(out)
    meta.write_text(json.dumps(stamp))
    return out


def write_splits_once(root: str, stamp: dict, write_split: Callable, splits: Dict[str, int], seed: int) -> Path:
    """:func:`write_once` of ``write_split(root, name, count, rng)`` per split, each split with its own
    random stream of one seed (so train and val stay the same whatever the other's size)."""
    def write(out: Path) -> None:
        for index, (name, count) in enumerate(splits.items()):
            write_split(out, name, count, np.random.default_rng([seed, index]))

    return write_once(root, {**stamp, 'splits': splits, 'seed': seed}, write)


def write_coco_split(root: Path, split: str, count: int, make: Callable[[], Tuple[np.ndarray, List[dict]]],
                     json_name: str, categories: List[dict]) -> None:
    """Write ``count`` images from ``make()`` to ``root/images/<split>/`` and their COCO json.

    ``make()`` returns an image and its annotations without ``id`` / ``image_id`` (filled in here).
    The json goes to ``root/annotations/<json_name>``.
    """
    img_dir = root / 'images' / split
    img_dir.mkdir(parents=True, exist_ok=True)
    images: List[dict] = []
    annotations: List[dict] = []
    for image_id in range(1, count + 1):
        img, anns = make()
        name = f'{split}_{image_id - 1:04d}.png'
        cv2.imwrite(str(img_dir / name), img)
        images.append(dict(id=image_id, file_name=name, height=img.shape[0], width=img.shape[1]))
        annotations += [dict(id=len(annotations) + k + 1, image_id=image_id, **ann) for k, ann in enumerate(anns)]
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    (root / 'annotations' / json_name).write_text(
        json.dumps(dict(images=images, annotations=annotations, categories=categories)))


def cli(doc: str, default_root: str, defaults: Dict[str, int], generate: Callable[..., Path]) -> None:
    """``--root`` plus one integer flag per entry of ``defaults`` (e.g. train, val, seed), then generate."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument('--root', default=default_root)
    for name, value in defaults.items():
        parser.add_argument(f'--{name}', type=int, default=value)
    args = vars(parser.parse_args())
    print(generate(args.pop('root'), **args))
