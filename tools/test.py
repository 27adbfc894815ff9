"""Evaluate a checkpoint with its library's own tools/test.py (mmseg, mmpose, mmdet or mmpretrain, by default_scope).

``python tools/test.py CONFIG CHECKPOINT [ARGS...]``; the wheel ships this file as
``hrnet_mm/.mim/tools/test.py``, which is what ``mim test hrnet_mm CONFIG --checkpoint CHECKPOINT`` runs.
See :mod:`hrnet_mm.cli.stock_tool`.
"""
import sys

from hrnet_mm.cli.stock_tool import main

if __name__ == '__main__':
    sys.exit(main('test'))
