"""``hrnet-mm complexity``: params and GFLOPs of the paper's models, measured, next to the paper."""
import argparse

from .types import height_width, positive_int

DESCRIPTION = """\
Count the parameters and GFLOPs of an HRNet model (backbone alone, or with the paper's pose,
segmentation, classification or facial landmark head) at an input size, next to the paper's table."""
EPILOG = """\
examples:
  hrnet-mm complexity w32 --task pose --input 256x192 --num-outputs 17
  hrnet-mm complexity w48 --task seg --input 512x1024 --num-outputs 19
  hrnet-mm complexity w18 --task face --input 256x256 --num-outputs 98   # HRNetV2-W18 on WFLW
  hrnet-mm complexity --all                 # every row of the paper's table"""


def add_parser(sub) -> None:
    p = sub.add_parser('complexity', help="params and GFLOPs of the paper's models, next to the paper",
                       description=DESCRIPTION, epilog=EPILOG)
    p.add_argument('arch', nargs='?', default='w32',
                   help='preset or alias, e.g. w32, W48, w18-small (= w18-small-v1), w18-small-v2')
    p.add_argument('--task', choices=('backbone', 'pose', 'seg', 'cls', 'face'), default='backbone',
                   help='the backbone alone (default) or with the paper head of that task')
    p.add_argument('--input', type=height_width, default=(256, 192), help='HxW, default 256x192')
    p.add_argument('--num-outputs', type=positive_int, default=17,
                   help='keypoints (pose), landmarks (face) or classes (seg, cls)')
    p.add_argument('--all', action='store_true', help="every row of the paper's table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hrnet_mm.complexity import measure, paper_table
    rows = []
    if args.all:
        for task, key, count in (('pose', 'pose', 'num_keypoints'), ('seg', 'seg', 'num_classes'),
                                 ('cls', 'cls', 'num_classes'), ('face', 'face', 'num_keypoints')):
            for row in paper_table()[key]:
                params, gflops = measure(task, row['arch'], tuple(row['input']), row[count])
                name = f"{task} ({row['dataset']}, {row[count]})" if 'dataset' in row else task  # one row per dataset
                rows.append((name, row['arch'], row['input'], params, gflops, row['params_m'], row['gflops']))
    else:
        from hrnet_mm.models.archs import preset_name
        arch = preset_name(args.arch)  # W32, w18-small, ...: the preset's key (a ConfigError line otherwise)
        params, gflops = measure(args.task, arch, args.input, args.num_outputs)
        rows.append((args.task, arch, list(args.input), params, gflops, None, None))
    print('| task | arch | input | params (M) | GFLOPs | paper params (M) | paper GFLOPs |')
    print('|---|---|---|---|---|---|---|')
    for task, arch, hw, params, gflops, p_params, p_gflops in rows:
        ref = f'{p_params} | {p_gflops}' if p_params is not None else '- | -'  # as the paper prints them
        print(f'| {task} | {arch} | {hw[0]}x{hw[1]} | {params:.2f} | {gflops:.2f} | {ref} |')
    print('GFLOPs = conv/linear multiply-adds / 2**30, as the paper counts.')
    return 0
