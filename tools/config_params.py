"""Markdown table of params (and GFLOPs at the config's input size, where it has one) per config.

Models are built on CPU without downloading weights; GFLOPs are counted as the paper does
(conv/linear multiply-adds / 2**30) at ``codec.input_size`` (pose configs) or at 800x1333 for
detectors, over the dense part: backbone, neck and RPN (or single-stage) head. RoI heads are left
out: their cost depends on the number of proposals (~13 GFLOPs per 1000 RoIs for the 2-fc box head).

Usage: python tools/config_params.py configs/hrnet_seg
"""
import sys
from pathlib import Path

import hrnet_mm  # noqa: F401
from hrnet_mm.apis import build_model
from hrnet_mm.apis.trunk import DET_SIZE, DetectorTrunk
from hrnet_mm.complexity import count_gflops


def count(path: Path):
    """(params in millions, GFLOPs or None, input 'HxW' or None) of a config's model."""
    model, library, cfg = build_model(str(path))
    params = sum(p.numel() for p in model.parameters()) / 1e6
    if library.is_detector:
        return params, count_gflops(DetectorTrunk(model), (3, *DET_SIZE)), 'x'.join(map(str, DET_SIZE))
    if 'codec' not in cfg:
        return params, None, None
    w, h = cfg.codec['input_size']
    return params, count_gflops(model, (3, h, w)), f'{h}x{w}'


def main(folder: str) -> None:
    print('| config | params (M) | GFLOPs (input) |\n|---|---|---|')
    for path in sorted(Path(folder).glob('*.py')):
        params, gflops, size = count(path)
        print(f"| {path.stem} | {params:.2f} | {f'{gflops:.2f} ({size})' if gflops else '-'} |")


if __name__ == '__main__':
    main(sys.argv[1])
