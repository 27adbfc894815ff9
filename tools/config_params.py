"""Print a markdown table of parameter counts for every config in a folder (built on CPU, no download).

Usage: python tools/config_params.py configs/hrnet_seg
"""
import sys
from pathlib import Path

from mmengine.config import Config
from mmengine.registry import DefaultScope

import hrnet_mm  # noqa: F401
from hrnet_mm.tools_cli import _replace_syncbn, library_of


def count(path: Path) -> float:
    cfg = Config.fromfile(str(path))
    _replace_syncbn(cfg._cfg_dict)
    cfg.model.backbone.init_cfg = None
    library = library_of(cfg)
    registry = __import__(f'{library}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(library):
        model = registry.build(cfg.model)
    return sum(p.numel() for p in model.parameters()) / 1e6


def main(folder: str) -> None:
    print('| config | params (M) |\n|---|---|')
    for path in sorted(Path(folder).glob('*.py')):
        print(f'| {path.stem} | {count(path):.2f} |')


if __name__ == '__main__':
    main(sys.argv[1])
