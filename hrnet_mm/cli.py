"""``hrnet-mm`` command line: model tables now, train/test/export through the OpenMMLab tools."""
import argparse
import sys
from typing import List, Optional


def _hw(text: str):
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected HxW such as 256x192, got {text!r}') from None
    return h, w


def _complexity(args: argparse.Namespace) -> int:
    from .complexity import measure, paper_table
    from .models.backbones import ARCH_ZOO
    rows = []
    if args.all:
        for task, key, count in (('pose', 'pose', 'num_keypoints'), ('seg', 'seg', 'num_classes')):
            for row in paper_table()[key]:
                params, gflops = measure(task, row['arch'], tuple(row['input']), row[count])
                rows.append((task, row['arch'], row['input'], params, gflops, row['params_m'], row['gflops']))
    else:
        if args.arch not in ARCH_ZOO:
            print(f'unknown arch {args.arch!r}; choose from {sorted(ARCH_ZOO)}', file=sys.stderr)
            return 2
        params, gflops = measure(args.task, args.arch, args.input, args.num_outputs)
        rows.append((args.task, args.arch, list(args.input), params, gflops, None, None))
    print('| task | arch | input | params (M) | GFLOPs | paper params (M) | paper GFLOPs |')
    print('|---|---|---|---|---|---|---|')
    for task, arch, hw, params, gflops, p_params, p_gflops in rows:
        ref = (f'{p_params:.1f} | {p_gflops:.1f}' if p_params is not None else '- | -')
        print(f'| {task} | {arch} | {hw[0]}x{hw[1]} | {params:.2f} | {gflops:.1f} | {ref} |')
    print('GFLOPs = conv/linear multiply-adds / 2**30, as the paper counts.')
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='hrnet-mm', description=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)

    cx = sub.add_parser('complexity', help="params and GFLOPs of the paper's models, next to the paper")
    cx.add_argument('arch', nargs='?', default='w32', help='preset, e.g. w32, w18-small-v2')
    cx.add_argument('--task', choices=('backbone', 'pose', 'seg'), default='backbone')
    cx.add_argument('--input', type=_hw, default=(256, 192), help='HxW, default 256x192')
    cx.add_argument('--num-outputs', type=int, default=17, help='keypoints (pose) or classes (seg)')
    cx.add_argument('--all', action='store_true', help="every row of the paper's table")
    cx.set_defaults(func=_complexity)

    from .export import add_export_command
    from .tools_cli import add_runner_commands
    add_runner_commands(sub)
    add_export_command(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
