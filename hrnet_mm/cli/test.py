"""``hrnet-mm test``: evaluate a checkpoint with its library's own ``tools/test.py``."""
import argparse

from hrnet_mm.config_lookup import resolve_config

from .runner import add_common_arguments, run_tool

DESCRIPTION = """\
Evaluate a checkpoint on the config's test split with the stock tools/test.py of its library
(mmseg, mmpose, mmdet or mmpretrain, read from the config's default_scope); prints the metrics.
The checkpoint is checked (integrity, weights-only) before the tool starts."""
EPILOG = """\
examples:
  hrnet-mm test hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py work_dirs/seg/iter_800.pth
  hrnet-mm test my_config.py model.pth --show-dir vis     # also save drawn predictions
  hrnet-mm test my_config.py model.pth --gpus 4           # 4 processes (torchrun)"""


def add_parser(sub) -> None:
    p = sub.add_parser('test', help="evaluate a checkpoint with its library's own tools/test.py",
                       description=DESCRIPTION, epilog=EPILOG)
    p.add_argument('config', help='config file, packaged name (hrnet_seg/<name>.py) or pkg:: name')
    p.add_argument('checkpoint', help='the .pth to evaluate')
    p.add_argument('--show-dir', help='save visualized predictions here; a relative path is taken inside the '
                                      'work dir')
    add_common_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hrnet_mm.checkpoint import fetch_checkpoint
    args.config = resolve_config(args.config)  # a local file, or a packaged one: hrnet_seg/<name>.py
    fetch_checkpoint(args.checkpoint)  # a damaged or refused file fails here, in one line
    return run_tool(args, 'test')
