"""``hrnet-mm export``: a config + checkpoint to ONNX (see :mod:`hrnet_mm.apis.export`)."""
import argparse
import sys
from pathlib import Path

from hrnet_mm.apis.export import DEFAULT_OPSET, FORMATS, export_onnx

from .types import positive_int


def add_parser(sub) -> None:
    p = sub.add_parser('export', help='export a config + checkpoint to ONNX (backbone + neck/head)')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--format', default='onnx', help='export format; only onnx (default)')
    p.add_argument('--out', help='output file; default: the checkpoint path with .onnx')
    p.add_argument('--shape', nargs=2, type=positive_int, metavar=('H', 'W'),
                   help="traced input size (>= 32 each); default: the config's crop / codec size")
    p.add_argument('--batch', type=positive_int, default=1, help='traced batch size (default 1)')
    p.add_argument('--dynamic', action='store_true', help='dynamic batch, height and width')
    p.add_argument('--opset', type=int, default=DEFAULT_OPSET, help=f'ONNX opset (default {DEFAULT_OPSET})')
    p.add_argument('--no-verify', action='store_true', help='skip the onnxruntime vs PyTorch check')
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.format.lower() not in FORMATS:
        print(f'hrnet-mm export: format {args.format!r} is not supported; use --format onnx '
              '(convert the ONNX file with TensorRT, OpenVINO, ... for other runtimes)', file=sys.stderr)
        return 2
    from hrnet_mm.checkpoint import load_local_checkpoint
    load_local_checkpoint(args.checkpoint)  # fail in one line before the model is built
    out = args.out or str(Path(args.checkpoint).with_suffix('.onnx'))
    shape = None if args.shape is None else (args.batch, 3, *args.shape)
    try:
        path = export_onnx(args.config, args.checkpoint, out, shape, dynamic=args.dynamic, opset=args.opset,
                           verify=not args.no_verify)
    except ImportError as err:
        print(f'hrnet-mm export: {err}', file=sys.stderr)
        return 1
    print(f'[hrnet-mm] wrote {path}' + (' (dynamic batch/height/width)' if args.dynamic else ''))
    return 0
