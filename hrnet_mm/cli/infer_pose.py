"""``hrnet-mm infer-pose``: draw the keypoints a top-down pose checkpoint finds on an image."""
import argparse

from .infer import add_max_pixels

DESCRIPTION = """\
Run a top-down pose config + checkpoint on one image with mmpose's MMPoseInferencer, the whole image
being the person box (no detector is downloaded). Writes the drawn skeleton under
OUT_DIR/visualizations and the keypoints as JSON under OUT_DIR/predictions. An image of more
than --max-pixels pixels (read from its header) is refused before anything decodes it."""
EPILOG = """\
example:
  hrnet-mm infer-pose hrnet_pose/td-hm_hrnetv1-w32_4xb32-210e_coco-256x192.py pose.pth person.jpg --out-dir vis"""


def add_parser(sub) -> None:
    p = sub.add_parser('infer-pose', help='draw the keypoints a pose checkpoint finds on an image',
                       description=DESCRIPTION, epilog=EPILOG)
    p.add_argument('config', help='pose config file, packaged name (hrnet_pose/<name>.py) or pkg:: name')
    p.add_argument('checkpoint', help='the .pth with the trained weights')
    p.add_argument('image', help='image file (the person fills it)')
    p.add_argument('--out-dir', default='work_dirs/infer_pose', help='default: work_dirs/infer_pose')
    p.add_argument('--device', default='cpu', help="e.g. cpu (default), cuda, cuda:1")
    add_max_pixels(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hrnet_mm.apis import infer_pose
    from hrnet_mm.checkpoint import fetch_checkpoint
    fetch_checkpoint(args.checkpoint)
    people = infer_pose(args.config, args.checkpoint, args.image, args.out_dir, args.device, args.max_pixels)
    print(f'[hrnet-mm] {len(people)} person(s); drawing and keypoints under {args.out_dir}')
    return 0
