"""``hrnet-mm test``: evaluate a checkpoint with its library's own ``tools/test.py``."""
import argparse

from hrnet_mm.config_lookup import resolve_config

from .runner import add_common_arguments, run_tool


def add_parser(sub) -> None:
    p = sub.add_parser('test', help="evaluate a checkpoint with its library's own tools/test.py")
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--show-dir', help='save visualized predictions here; a relative path is taken inside the '
                                      'work dir')
    add_common_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hrnet_mm.checkpoint import load_local_checkpoint
    args.config = resolve_config(args.config)  # a local file, or a packaged one: hrnet_seg/<name>.py
    load_local_checkpoint(args.checkpoint)  # a damaged or refused file fails here, in one line
    return run_tool(args, 'test')
