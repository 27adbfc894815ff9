"""``hrnet-mm infer``: predict on image files with an exported model and draw the results."""
import argparse

from hrnet_mm.constants import DEFAULT_MAX_PIXELS, ENGINES, MAX_PIXELS_ENV

from .types import positive_int

EXAMPLE = """\
The library's own inferencer reads, preprocesses, decodes and draws each image (as for a PyTorch
checkpoint); the engine computes the network. Pose: the whole image is the person box.
Pictures go to OUT_DIR/visualizations, predictions to OUT_DIR/predictions. An image is sized from
its header first: one of more than --max-pixels pixels is refused before anything decodes it.

examples:
  hrnet-mm infer hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py model.int8.onnx a.png b.png
  hrnet-mm infer CONFIG model.onnx img.jpg --engine openvino --threads 2
  hrnet-mm infer CONFIG model.pth img.jpg                     # the same in PyTorch, for comparison
  hrnet-mm infer DET_CONFIG trunk.onnx img.jpg --checkpoint model.pth   # detector heads in PyTorch
"""


def add_parser(sub) -> None:
    p = sub.add_parser('infer', help='predict on images with an exported ONNX model (or a checkpoint) and draw them',
                       description='Predict on image files with an exported ONNX model (or a .pth checkpoint) '
                                   'and draw the predictions.',
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='the config the model was exported from (file or packaged name)')
    p.add_argument('model', help='.onnx file from hrnet-mm export (float32 or int8), or a .pth checkpoint')
    p.add_argument('images', nargs='+', metavar='IMAGE', help='image files')
    p.add_argument('--engine', choices=ENGINES,
                   help='engine for .onnx (default: the fastest installed, openvino then onnxruntime)')
    p.add_argument('--threads', type=int, help="engine threads (default: the engine's choice)")
    p.add_argument('--checkpoint', help="a detector's checkpoint: its heads run in PyTorch on the engine's features")
    p.add_argument('--out-dir', default='work_dirs/infer', help='output folder (default work_dirs/infer)')
    p.add_argument('--kpt-thr', type=float, metavar='SCORE',
                   help='pose: least keypoint score drawn (default 0.3, as mmpose; lower it for a briefly '
                        'trained model)')
    add_max_pixels(p)
    p.set_defaults(run=run)


def add_max_pixels(p) -> None:
    """The ``--max-pixels`` option that ``infer`` and ``infer-pose`` share."""
    p.add_argument('--max-pixels', type=positive_int, metavar='N',
                   help=f'refuse an image of more than N pixels (width x height), read from its header before '
                        f'decoding (default: {MAX_PIXELS_ENV}, else {DEFAULT_MAX_PIXELS:,})')


def run(args: argparse.Namespace) -> int:
    from hrnet_mm.apis.runtime import default_engine, infer_images
    onnx = args.model.lower().endswith('.onnx')
    engine = (args.engine or default_engine()) if onnx else None
    found = infer_images(args.config, args.model, args.images, args.out_dir, engine, args.checkpoint, args.threads,
                         args.max_pixels, args.kpt_thr)
    where = engine if onnx else 'PyTorch'
    print(f'[hrnet-mm] {len(found)} image(s) with {where}; pictures under {args.out_dir}/visualizations, '
          f'predictions under {args.out_dir}/predictions')
    return 0
