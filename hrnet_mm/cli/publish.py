"""``hrnet-mm publish``: a release copy of a trained checkpoint (weights + meta, sha256 in the name)."""
import argparse

from hrnet_mm.checkpoint import publish_checkpoint

DESCRIPTION = """\
Write a release copy of a trained checkpoint: the weights and meta only (no optimizer or resume
state), named <stem>-<sha256 prefix>.pth. Loading a file named so checks the hash."""
EPILOG = """\
example:
  hrnet-mm publish work_dirs/seg/iter_800.pth --out release/hrnet_w18_seg.pth
  # -> release/hrnet_w18_seg-1a2b3c4d.pth"""


def add_parser(sub) -> None:
    p = sub.add_parser('publish', help='strip the optimizer and resume state, name the file by its sha256',
                       description=DESCRIPTION, epilog=EPILOG)
    p.add_argument('checkpoint', help='a checkpoint written by training (.pth)')
    p.add_argument('--out', help='output path stem, e.g. release/hrnet_w32.pth; default: next to the checkpoint')
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path = publish_checkpoint(args.checkpoint, args.out)
    print(f'[hrnet-mm] published {path} (loading checks the sha256 prefix in its name)')
    return 0
