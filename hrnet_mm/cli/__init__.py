"""The ``hrnet-mm`` command: one module per subcommand, each with ``add_parser`` and ``run``.

Every user mistake (bad flag, missing file, damaged checkpoint, invalid value) ends as one line
on stderr and exit status 2; anything else is a bug and keeps its traceback.
"""
import argparse
import sys
from typing import List, Optional

from hrnet_mm.checkpoint import CheckpointError
from hrnet_mm.errors import ConfigError, one_line

from . import complexity, convert, export, infer, infer_pose, publish, test, train

SUBCOMMANDS = (complexity, train, test, export, infer, publish, convert, infer_pose)
USAGE_ERRORS = (ConfigError, CheckpointError, FileNotFoundError)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad command line prints one line (no usage block) and exits 2."""

    def error(self, message: str):
        self.exit(2, f'{self.prog}: error: {message}\n')


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog='hrnet-mm', description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True, parser_class=OneLineParser)
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except USAGE_ERRORS as err:
        print(f'hrnet-mm {args.command}: {one_line(err)}', file=sys.stderr)
        return 2
