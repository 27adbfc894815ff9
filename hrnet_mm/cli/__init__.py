"""The ``hrnet-mm`` command: one module per subcommand, each with ``add_parser`` and ``run``.

Every failure of a command ends as one line on stderr and exit status 2 (:func:`main`). A user
mistake (bad flag, missing file, wrong config name, damaged checkpoint, an image or ONNX file that
cannot be used, an installed stack that lacks a fix) reads ``hrnet-mm COMMAND: what is wrong``; any
other exception reads ``hrnet-mm COMMAND: ExceptionType: message`` with a hint that ``--debug`` (or
``HRNET_MM_DEBUG=1``) shows its traceback. Ctrl-C ends in one line and exit status 130.
"""
import argparse
import os
import sys
from typing import List, Optional

import hrnet_mm
from hrnet_mm.errors import CheckpointError, ConfigError, InputError, SetupError, short_line

from . import complexity, convert, export, infer, infer_pose, publish, test, train

SUBCOMMANDS = (train, test, infer_pose, export, infer, convert, publish, complexity)
USAGE_ERRORS = (ConfigError, CheckpointError, FileNotFoundError, SetupError, InputError)
DEBUG_ENV = 'HRNET_MM_DEBUG'
DEBUG_HINT = '(run with --debug for the traceback)'
INTERRUPTED = 130  # what a shell reports for a command ended by SIGINT

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

`hrnet-mm COMMAND --help` describes each command. An error ends in one line and exit status 2;
`hrnet-mm --debug COMMAND ...` (or HRNET_MM_DEBUG=1) shows its traceback."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad command line prints one line (no usage block) and exits 2; help keeps its layout."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('formatter_class', argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault('allow_abbrev', False)  # `--gpu 2` must not be taken for `--gpus 2`
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f'{self.prog}: error: {message}\n')


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog='hrnet-mm', description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument('--debug', action='store_true',
                        help=f'let an error show its traceback instead of one line (also {DEBUG_ENV}=1)')
    sub = parser.add_subparsers(dest='command', required=True, parser_class=OneLineParser, metavar='COMMAND')
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    for name, command_parser in sub.choices.items():
        # Also after the command, where the error line's hint leads one to add it. SUPPRESS: absent
        # here, it leaves the value given before the command in place.
        command_parser.add_argument('--debug', action='store_true', default=argparse.SUPPRESS,
                                    help=f'show the traceback of an error (as hrnet-mm --debug {name})')
    return parser


def debugging(args: argparse.Namespace) -> bool:
    """Whether errors keep their traceback: ``--debug``, or ``HRNET_MM_DEBUG`` set to anything but 0/false/no."""
    return bool(getattr(args, 'debug', False)) or \
        os.environ.get(DEBUG_ENV, '').strip().lower() not in ('', '0', 'false', 'no')


def error_line(command: str, err: BaseException) -> Optional[str]:
    """The one line a command that raised ``err`` prints, or None when it was said already.

    Args:
        command: The subcommand's name (``infer``, ``infer-pose``, ...).
        err: What the command raised.

    Returns:
        ``hrnet-mm COMMAND: message`` for a user mistake (:data:`USAGE_ERRORS`) or a missing piece
        of the stack (:func:`hrnet_mm.environment.missing_piece`: what it is and what installs it);
        ``hrnet-mm COMMAND: ExceptionType: message (run with --debug for the traceback)`` for any other
        exception; None for a stack problem that importing hrnet_mm logged already. Messages are cut to
        their first line, at most 300 characters.

    Example:
        >>> error_line('infer', ConfigError('engine must be one of ...'))
        'hrnet-mm infer: engine must be one of ...'
        >>> error_line('infer', MemoryError())
        'hrnet-mm infer: MemoryError (run with --debug for the traceback)'
    """
    from hrnet_mm.environment import LOGGED, missing_piece
    if isinstance(err, USAGE_ERRORS):
        return None if str(err) in LOGGED else f'hrnet-mm {command}: {short_line(err)}'
    piece = missing_piece(err) if isinstance(err, ImportError) else None
    if piece is not None:
        return f'hrnet-mm {command}: {piece}'
    kind = type(err).__name__
    message = short_line(err) if str(err).strip() else ''
    cause = f'{kind}: {message}' if message and message != kind else kind
    return f'hrnet-mm {command}: {cause} {DEBUG_HINT}'


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``hrnet-mm`` with ``argv`` (default: the process's arguments); return the exit status.

    The one place where a command's errors meet the user: each ends as the single line of
    :func:`error_line` on stderr and status 2 (Ctrl-C: one line, status 130), unless ``--debug`` or
    ``HRNET_MM_DEBUG=1`` asks for the traceback. argparse's own mistakes exit 2 with one line too.
    """
    args = build_parser().parse_args(argv)  # help and usage errors: no torch imported yet
    try:
        hrnet_mm.activate()  # registers the modules, installs the checked loaders (torch and mmcv from here on)
        return args.run(args)
    except KeyboardInterrupt:
        if debugging(args):
            raise
        print(f'hrnet-mm {args.command}: interrupted', file=sys.stderr)
        return INTERRUPTED
    except Exception as err:  # the boundary: whatever a library raises for a user's input becomes one line
        if debugging(args):
            raise
        line = error_line(args.command, err)
        if line is not None:
            print(line, file=sys.stderr)
        return 2
