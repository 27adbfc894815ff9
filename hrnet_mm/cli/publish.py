"""``hrnet-mm publish``: a release copy of a trained checkpoint (weights + meta, sha256 in the name)."""
import argparse

from hrnet_mm.constants import CHECKPOINT_FORMATS

DESCRIPTION = """\
Write a release copy of a trained checkpoint: the weights and meta only (no optimizer or resume
state), named <stem>-<sha256 prefix>.pth (or .safetensors). Loading a file named so checks the hash.
safetensors holds no pickle at all: the recommended format for weights you share."""
EPILOG = """\
example:
  hrnet-mm publish work_dirs/seg/iter_800.pth --out release/hrnet_w18_seg.pth
  # -> release/hrnet_w18_seg-1a2b3c4d.pth
  hrnet-mm publish work_dirs/seg/iter_800.pth --out release/hrnet_w18_seg.safetensors
  # -> release/hrnet_w18_seg-5e6f7a8b.safetensors (weights; the meta as JSON text in its metadata)"""


def add_parser(sub) -> None:
    p = sub.add_parser('publish', help='strip the optimizer and resume state, name the file by its sha256',
                       description=DESCRIPTION, epilog=EPILOG)
    p.add_argument('checkpoint', help='a checkpoint written by training (.pth)')
    p.add_argument('--out', help='output path stem, e.g. release/hrnet_w32.pth; default: next to the checkpoint')
    p.add_argument('--format', choices=CHECKPOINT_FORMATS, dest='fmt',
                   help="pth (torch's format) or safetensors (no pickle); default: from --out's suffix, else pth")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hrnet_mm.checkpoint import publish_checkpoint
    path = publish_checkpoint(args.checkpoint, args.out, fmt=args.fmt)
    print(f'[hrnet-mm] published {path} (loading checks the sha256 prefix in its name)')
    return 0
