"""The ``hrnet-mm`` command: one module per subcommand, each with ``add_parser`` and ``run``.

Every user mistake (bad flag, missing file, wrong config name, damaged checkpoint, invalid value, an
installed stack that lacks a fix) ends as one line on stderr and exit status 2; anything else is a
bug and keeps its traceback.
"""
import argparse
import sys
from typing import List, Optional

from hrnet_mm.checkpoint import CheckpointError
from hrnet_mm.errors import ConfigError, SetupError, one_line

from . import complexity, convert, export, infer, infer_pose, publish, test, train

SUBCOMMANDS = (train, test, infer_pose, export, infer, convert, publish, complexity)
USAGE_ERRORS = (ConfigError, CheckpointError, FileNotFoundError, SetupError)

DESCRIPTION = """\
HRNet for OpenMMLab 2.x: train and evaluate configs with the stock tools of mmseg, mmpose, mmdet and
mmpretrain, draw pose predictions, export to ONNX and run the export, convert and publish checkpoints.

A CONFIG is a file path, a config shipped with hrnet_mm (hrnet_seg/<name>.py, hrnet_pose/...,
hrnet_det/..., hrnet_cls/...; list them with `mim search hrnet_mm`), or a pkg:: name such as
hrnet_mm::hrnet_seg/<name>.py or mmseg::<folder>/<name>.py."""

EPILOG = """\
examples:
  hrnet-mm train hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py --work-dir work_dirs/seg
  hrnet-mm test my_config.py work_dirs/seg/iter_800.pth --show-dir vis
  hrnet-mm train my_config.py --gpus 8 --nnodes 2 --node-rank 0 --master-addr 10.0.0.1
  hrnet-mm infer-pose hrnet_pose/td-hm_hrnetv1-w32_4xb32-210e_coco-256x192.py pose.pth person.jpg
  hrnet-mm export my_config.py model.pth --int8 --calib 32
  hrnet-mm complexity w48 --task seg --input 512x1024 --num-outputs 19

`hrnet-mm COMMAND --help` describes each command."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad command line prints one line (no usage block) and exits 2; help keeps its layout."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('formatter_class', argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f'{self.prog}: error: {message}\n')


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog='hrnet-mm', description=DESCRIPTION, epilog=EPILOG)
    sub = parser.add_subparsers(dest='command', required=True, parser_class=OneLineParser, metavar='COMMAND')
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except USAGE_ERRORS as err:
        from hrnet_mm.environment import LOGGED
        if str(err) not in LOGGED:  # a stack problem was said in one line already, when hrnet_mm was imported
            print(f'hrnet-mm {args.command}: {one_line(err)}', file=sys.stderr)
        return 2
