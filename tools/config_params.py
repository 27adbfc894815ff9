"""Markdown table of params (and GFLOPs at the config's input size, where it has one) per config.

Models are built on CPU without downloading weights; GFLOPs are counted as the paper does
(conv/linear multiply-adds / 2**30) at ``codec.input_size`` (pose configs).

Usage: python tools/config_params.py configs/hrnet_seg
"""
import sys
from pathlib import Path

from mmengine.config import Config
from mmengine.registry import DefaultScope

import hrnet_mm  # noqa: F401
from hrnet_mm.complexity import count_gflops
from hrnet_mm.tools_cli import _replace_syncbn, library_of


def count(path: Path):
    """(params in millions, GFLOPs or None, input 'HxW' or None) of a config's model."""
    cfg = Config.fromfile(str(path))
    _replace_syncbn(cfg._cfg_dict)
    cfg.model.backbone.init_cfg = None
    library = library_of(cfg)
    registry = __import__(f'{library}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(library):
        model = registry.build(cfg.model)
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
