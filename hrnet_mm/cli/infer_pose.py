"""``hrnet-mm infer-pose``: draw the keypoints a top-down pose model finds in the boxes of images."""
import argparse

from hrnet_mm.constants import ENGINES

from .infer import add_max_pixels
from .types import positive_int

DESCRIPTION = """\
Run a top-down pose config with its checkpoint (.pth, PyTorch) or an export of it (.onnx from
`hrnet-mm export`, float32 or int8) on the boxes of images. The boxes come from a detector
(--det-config/--det-checkpoint, any mmdet model), a COCO detections file (--boxes), --box, or else
the whole image is one box. mmpose's own test pipeline crops every box and its test_step decodes
the keypoints (flip test, codec), as MMPoseInferencer does; the crops of consecutive images share
batches of --batch-size. Writes the drawn skeletons under OUT_DIR/visualizations and COCO keypoint
results to OUT_DIR/keypoints.json. An image of more than --max-pixels pixels (read from its header)
is refused before anything decodes it.

--boxes takes a list of {"image_id", "bbox": [x, y, w, h], "score", "category_id"} ("score" and
"category_id" optional) or a COCO annotation file ({"images": [{"id", "file_name"}], "annotations":
[...]}). An image_id matches an image by an "images" record's file_name, by the file name or its
stem, or as an integer equal to a stem of digits (000000000139.jpg is 139)."""
EPILOG = """\
examples:
  hrnet-mm infer-pose hrnet_pose/td-hm_hrnetv1-w32_4xb32-210e_coco-256x192.py pose.pth person.jpg
  hrnet-mm infer-pose POSE_CONFIG pose.int8.onnx a.jpg b.jpg --det-config DET_CONFIG --det-checkpoint det.pth
  hrnet-mm infer-pose POSE_CONFIG pose.pth *.jpg --boxes detections.json --bbox-thr 0.5
  hrnet-mm infer-pose POSE_CONFIG pose.pth a.jpg --box 10,20,120,300 --box 200,40,90,280"""


def box(text: str):
    """argparse type of ``--box``: ``x,y,w,h``."""
    from hrnet_mm.apis.topdown import parse_box
    from hrnet_mm.errors import ConfigError
    try:
        return parse_box(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_parser(sub) -> None:
    p = sub.add_parser('infer-pose', help='draw the keypoints a top-down pose model finds in the boxes of images',
                       description=DESCRIPTION, epilog=EPILOG)
    p.add_argument('config', help='pose config file, packaged name (hrnet_pose/<name>.py) or pkg:: name')
    p.add_argument('model', help='its .pth checkpoint, or an .onnx file exported from it (float32 or int8)')
    p.add_argument('images', nargs='+', metavar='IMAGE', help='image files')
    source = p.add_mutually_exclusive_group()
    source.add_argument('--det-config', help='an mmdet config whose detections are the boxes (needs --det-checkpoint)')
    source.add_argument('--boxes', metavar='FILE.json', help='boxes from a COCO detections file (see above)')
    source.add_argument('--box', type=box, action='append', metavar='X,Y,W,H',
                        help='a box on every image, in pixels (repeatable; write --box=-4,10,80,200 when it '
                             'starts with a minus)')
    p.add_argument('--det-checkpoint', help="the detector's checkpoint")
    p.add_argument('--det-cat-id', type=int, default=0,
                   help="the detector's label to keep (0-based as mmdet counts; default 0, COCO's person)")
    p.add_argument('--boxes-cat-id', type=int, help='keep only this category_id of --boxes (default: all)')
    p.add_argument('--bbox-thr', type=float, default=0.3,
                   help='keep boxes of the detector or --boxes scoring above it (default 0.3)')
    p.add_argument('--batch-size', type=positive_int, default=32, help='crops per forward (default 32)')
    p.add_argument('--kpt-thr', type=float, default=0.3, help='least keypoint score drawn (default 0.3)')
    p.add_argument('--engine', choices=ENGINES,
                   help='engine for .onnx (default: the fastest installed, openvino then onnxruntime)')
    p.add_argument('--threads', type=positive_int, help="engine threads (default: the engine's choice)")
    p.add_argument('--out-dir', default='work_dirs/infer_pose', help='default: work_dirs/infer_pose')
    p.add_argument('--device', default='cpu', help="torch device of a .pth model, e.g. cpu (default), cuda")
    add_max_pixels(p)
    p.set_defaults(run=run)


def box_source(args: argparse.Namespace):
    """The :class:`~hrnet_mm.apis.topdown.BoxSource` the options name."""
    from hrnet_mm.apis.topdown import BoxFile, Detector, GivenBoxes, WholeImage
    from hrnet_mm.errors import ConfigError
    if bool(args.det_config) != bool(args.det_checkpoint):
        raise ConfigError('--det-config and --det-checkpoint go together')
    if args.det_config:
        return Detector(args.det_config, args.det_checkpoint, args.det_cat_id, args.bbox_thr, args.device)
    if args.boxes:
        return BoxFile(args.boxes, args.bbox_thr, args.boxes_cat_id)
    if args.box:
        return GivenBoxes(args.box)
    return WholeImage()


def run(args: argparse.Namespace) -> int:
    from hrnet_mm.apis import infer_pose
    from hrnet_mm.apis.topdown import pose_config
    pose_config(args.config)  # a wrong pose config is named before the detector's
    people = infer_pose(args.config, args.model, args.images, args.out_dir, args.device, args.max_pixels,
                        box_source(args), args.batch_size, args.kpt_thr, args.engine, args.threads,
                        log=lambda line: print(f'[hrnet-mm] {line}'))
    print(f'[hrnet-mm] {len(people)} person(s) in {len(args.images)} image(s); drawings under '
          f'{args.out_dir}/visualizations, keypoints in {args.out_dir}/keypoints.json')
    return 0
