"""`make demo`: generate synthetic shapes, train HRNetV2 with mmseg's own tools, evaluate, draw.

Runs ``hrnet-mm train`` (mmseg's stock tools/train.py) on CPU, then ``hrnet-mm test`` on the
held-out split, which prints mIoU and saves prediction overlays with mmseg's visualizer.
Exits non-zero if the held-out mIoU misses the target.
"""
import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from make_seg_data import generate  # noqa: E402

CONFIG = 'configs/hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'


def run(command, log_path: Path) -> str:
    """Run a command, streaming its output and keeping a copy."""
    print('$ ' + ' '.join(command), flush=True)
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc, \
            open(log_path, 'w') as log:
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
            lines.append(line)
    if proc.returncode:
        raise SystemExit(f'command failed ({proc.returncode}); log: {log_path}')
    return ''.join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--work-dir', default='work_dirs/demo_seg')
    parser.add_argument('--target', type=float, default=80.0, help='required held-out mIoU')
    parser.add_argument('--cfg-options', nargs='+', default=[])
    args = parser.parse_args()
    work_dir = Path(args.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)

    print(f'[demo] synthetic dataset: {generate("data/seg_demo")}', flush=True)
    cli = [sys.executable, '-m', 'hrnet_mm.cli']
    extra = ['--cfg-options', *args.cfg_options] if args.cfg_options else []
    start = time.time()
    run(cli + ['train', CONFIG, '--work-dir', str(work_dir), *extra], work_dir / 'demo_train.log')
    train_minutes = (time.time() - start) / 60
    checkpoint = (work_dir / 'last_checkpoint').read_text().strip()
    overlays = work_dir.resolve() / 'overlays'
    out = run(cli + ['test', CONFIG, checkpoint, '--work-dir', str(work_dir), '--show-dir', str(overlays), *extra],
              work_dir / 'demo_test.log')
    miou = float(re.findall(r'mIoU: ([0-9.]+)', out)[-1])
    pictures = sorted(overlays.rglob('*.png'))
    print(f'\n[demo] HRNetV2-W18-small-v1, trained from scratch on CPU in {train_minutes:.1f} min')
    print(f'[demo] held-out mIoU: {miou:.2f} (target >= {args.target})')
    print(f'[demo] {len(pictures)} prediction overlays under {overlays}')
    return 0 if miou >= args.target else 1


if __name__ == '__main__':
    sys.exit(main())
