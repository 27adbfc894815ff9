"""Train a config with its library's own tools/train.py (mmseg, mmpose, mmdet or mmpretrain, by default_scope).

``python tools/train.py CONFIG [ARGS...]``; the wheel ships this file as ``hrnet_mm/.mim/tools/train.py``,
which is what ``mim train hrnet_mm CONFIG`` and ``mim run hrnet_mm train CONFIG`` run. See
:mod:`hrnet_mm.cli.stock_tool`.
"""
import sys

from hrnet_mm.cli.stock_tool import main

if __name__ == '__main__':
    sys.exit(main('train'))
