"""``hrnet-mm train``: train a config with its library's own ``tools/train.py``."""
import argparse

from hrnet_mm.config_lookup import resolve_config

from .runner import add_common_arguments, run_tool


def add_parser(sub) -> None:
    p = sub.add_parser('train', help="train a config with its library's own tools/train.py")
    p.add_argument('config')
    p.add_argument('--resume', nargs='?', const='auto', default=None,
                   help='resume from the latest checkpoint in the work dir, or from the given one')
    add_common_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    args.config = resolve_config(args.config)  # a local file, or a packaged one: hrnet_seg/<name>.py
    if args.resume not in (None, 'auto'):
        from hrnet_mm.checkpoint import load_local_checkpoint
        load_local_checkpoint(args.resume)  # a damaged or refused file fails here, in one line
    return run_tool(args, 'train')
