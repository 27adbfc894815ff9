"""Markdown table of params (and GFLOPs at the config's input size, where it has one) per config.

Models are built on CPU without downloading weights; GFLOPs are counted as the paper does
(conv/linear multiply-adds / 2**30) at ``codec.input_size`` (pose configs).

Usage: python tools/config_params.py configs/hrnet_seg
"""
import sys
from pathlib import Path

import hrnet_mm  # noqa: F401
from hrnet_mm.complexity import count_gflops
from hrnet_mm.tools_cli import build_model


def count(path: Path):
    """(params in millions, GFLOPs or None, input 'HxW' or None) of a config's model."""
    model, _, cfg = build_model(str(path))
    params = sum(p.numel() for p in model.parameters()) / 1e6
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
