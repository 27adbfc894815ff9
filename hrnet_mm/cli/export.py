"""``hrnet-mm export``: a config + checkpoint to ONNX, float32 and optionally int8 (see :mod:`hrnet_mm.apis.export`)."""
import argparse
import os
import sys
from pathlib import Path

from hrnet_mm.constants import CALIB_METHODS, DEFAULT_CALIB, DEFAULT_OPSET, DEFAULT_RTOL, EXPORT_FORMATS
from hrnet_mm.errors import MissingPackageError

from .types import positive_int

EXAMPLE = """\
The file computes what the library runs at test time after its data preprocessor: segmentation
logits, pose heatmaps, classification logits, a detector's backbone + neck features. It is checked
against PyTorch with onnxruntime before the command succeeds (removed if it differs).

examples:
  hrnet-mm export hrnet_seg/fcn_hrnetv2-w18_4xb2-40k_cityscapes-512x1024.py model.pth --dynamic
  hrnet-mm export CONFIG model.pth --dynamic --int8 --calib 32     # also model.int8.onnx
  hrnet-mm infer CONFIG model.int8.onnx image.png                  # run it on pictures
"""


def add_parser(sub) -> None:
    p = sub.add_parser('export', help='export a config + checkpoint to ONNX (float32, optionally int8)',
                       description='Export a config + checkpoint to ONNX (float32, and int8 with --int8).',
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='config file or packaged name (hrnet_seg/<name>.py)')
    p.add_argument('checkpoint', help='.pth checkpoint trained with the config')
    p.add_argument('--format', default='onnx', help='export format; only onnx (default)')
    p.add_argument('--out', help='output file, or a folder for <checkpoint name>.onnx; default: the checkpoint '
                   'path with .onnx')
    p.add_argument('--shape', nargs=2, type=positive_int, metavar=('H', 'W'),
                   help="traced input size (>= 32 each); default: the config's crop / codec size")
    p.add_argument('--batch', type=positive_int, default=1, help='traced batch size (default 1)')
    p.add_argument('--dynamic', action='store_true', help='dynamic batch, height and width')
    p.add_argument('--opset', type=int, default=DEFAULT_OPSET, help=f'ONNX opset (default {DEFAULT_OPSET})')
    p.add_argument('--no-verify', action='store_true', help='skip the onnxruntime vs PyTorch check')
    p.add_argument('--rtol', type=float, default=DEFAULT_RTOL,
                   help=f'largest difference from PyTorch accepted, as a fraction of each output\'s largest '
                        f'value (default {DEFAULT_RTOL:g})')
    q = p.add_argument_group('int8')
    q.add_argument('--int8', action='store_true',
                   help='also write <out>.int8.onnx: static int8, calibrated on training images')
    q.add_argument('--calib', type=positive_int, default=DEFAULT_CALIB,
                   help=f"calibration images drawn through the config's training pipeline (default {DEFAULT_CALIB})")
    q.add_argument('--calib-method', choices=CALIB_METHODS, default='minmax', help='activation ranges (default minmax)')
    q.add_argument('--keep-float', default='outputs', metavar='outputs|none|NODE,...',
                   help='layers left in float32: the ones writing the outputs (default), none, or ONNX node names')
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.format.lower() not in EXPORT_FORMATS:
        print(f'hrnet-mm export: format {args.format!r} is not supported; use --format onnx '
              '(convert the ONNX file with TensorRT, OpenVINO, ... for other runtimes)', file=sys.stderr)
        return 2
    from hrnet_mm.apis.export import ExportCheckError, export_onnx
    from hrnet_mm.checkpoint import fetch_checkpoint
    fetch_checkpoint(args.checkpoint)  # missing or damaged: one line before the model is built
    default_name = Path(args.checkpoint).with_suffix('.onnx').name
    out = Path(args.out) if args.out else Path(args.checkpoint).with_suffix('.onnx')
    if args.out and (out.is_dir() or args.out.endswith(('/', os.sep))):
        out = out / default_name  # a folder: the file takes the checkpoint's name
    shape = None if args.shape is None else (args.batch, 3, *args.shape)
    try:
        path = export_onnx(args.config, args.checkpoint, out, shape, dynamic=args.dynamic, opset=args.opset,
                           verify=not args.no_verify, rtol=args.rtol)
        print(f'[hrnet-mm] wrote {path}' + (' (dynamic batch/height/width)' if args.dynamic else '')
              + ('' if args.no_verify else ', equal to PyTorch within the tolerance'))
        if args.int8:
            from hrnet_mm.apis.quantize import export_int8
            keep = {'outputs': None, 'none': []}.get(args.keep_float, args.keep_float.split(','))
            report = export_int8(args.config, args.checkpoint, path, path.with_suffix('.int8.onnx'), args.calib,
                                 keep, args.calib_method)
            errors = ', '.join(f'{k} {v:.1%}' for k, v in report.relative_error.items())
            print(f'[hrnet-mm] wrote {report.path}: int8, calibrated on {report.calibration_images} training images, '
                  f'{len(report.kept_float)} layer(s) kept float32; deviation from float32 on 2 other training '
                  f'images: {errors}')
    except MissingPackageError:
        raise  # a set-up mistake: one line and status 2, like the others (cli.main)
    except (ImportError, ExportCheckError) as err:  # not the user's mistake, but one line is all there is to say
        print(f'hrnet-mm export: {err}', file=sys.stderr)
        return 1
    return 0
