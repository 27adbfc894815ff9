"""``hrnet-mm infer-pose``: draw the keypoints a top-down pose checkpoint finds on an image."""
import argparse


def add_parser(sub) -> None:
    p = sub.add_parser('infer-pose', help='draw the keypoints a pose checkpoint finds on an image')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('image')
    p.add_argument('--out-dir', default='work_dirs/infer_pose')
    p.add_argument('--device', default='cpu')
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hrnet_mm.apis import infer_pose
    from hrnet_mm.checkpoint import load_local_checkpoint
    load_local_checkpoint(args.checkpoint)
    people = infer_pose(args.config, args.checkpoint, args.image, args.out_dir, args.device)
    print(f'[hrnet-mm] {len(people)} person(s); drawing and keypoints under {args.out_dir}')
    return 0
