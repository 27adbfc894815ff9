"""`make demo` / `make demo-pose` / `make demo-det` / `make demo-cls` / `make demo-face`: synthetic data, training
with the library's own tools, evaluation.

For the chosen task: generate the synthetic dataset, run ``hrnet-mm train`` (the stock
tools/train.py of mmseg, mmpose, mmdet or mmpretrain) on CPU, then ``hrnet-mm test`` on the held-out split, which
prints the metric and saves pictures with the library's visualizer. Exits non-zero if the held-out
metric misses the target (at least the target, or at most it for errors such as the face NME).

Usage: python tools/demo.py {seg,pose,det,cls,face} [--config PATH] [--work-dir DIR] [--cfg-options k=v ...]

``--config`` runs another config of the same task on the same data, e.g. its GPU variant
(configs/hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128_cuda-graph-amp.py).
"""
import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from hrnet_mm.synthetic import cls_data, det_data, face_data, pose_data, seg_data

TASKS = {
    'seg': dict(config='configs/hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py',
                data=lambda: seg_data.generate('data/seg_demo'), model='HRNetV2-W18-small-v1',
                metric=r'mIoU: ([0-9.]+)', name='mIoU', target=80.0),
    'pose': dict(config='configs/hrnet_pose/td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py',
                 data=lambda: pose_data.generate('data/pose_demo'), model='HRNetV1-W18-small-v2',
                 metric=r'coco/AP: ([0-9.]+)', name='COCO keypoint AP', target=0.8),
    'det': dict(config='configs/hrnet_det/faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256.py',
                data=lambda: det_data.generate('data/det_demo'), model='Faster R-CNN HRNetV2p-W18-small-v2',
                metric=r'coco/bbox_mAP: ([0-9.]+)', name='bbox_mAP', target=0.5),
    'cls': dict(config='configs/hrnet_cls/hrnet-w18s-v1-c_1xb32-1000it_synthetic-64x64.py',
                data=lambda: cls_data.generate('data/cls_demo'), model='HRNet-W18-C-small-v1',
                metric=r'accuracy/top1: ([0-9.]+)', name='top-1 accuracy (%)', target=90.0),
    # An error: lower is better (lower=True).
    'face': dict(config='configs/hrnet_face/td-hm_hrnetv2-w18s-v1_1xb32-30e_synthetic-96x96.py',
                 data=lambda: face_data.generate('data/face_demo'), model='HRNetV2-W18-small-v1',
                 metric=r'NME: ([0-9.]+)', name='NME (300W, outer eye corners)', target=0.06, lower=True),
}


def run(command, log_path: Path) -> str:
    """Run a command, streaming its output and keeping a copy in ``log_path``."""
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


def device_name() -> str:
    """What the stock tools trained on: they take the first CUDA device when there is one."""
    import torch
    if torch.cuda.is_available():
        return f'GPU ({torch.cuda.get_device_name(0)})'
    return f'CPU ({os.cpu_count()} cores)'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument('task', choices=sorted(TASKS))
    parser.add_argument('--config', help="a config of the task on the demo data (default: the task's demo config)")
    parser.add_argument('--work-dir')
    parser.add_argument('--cfg-options', nargs='+', default=[])
    args = parser.parse_args()
    task = TASKS[args.task]
    config = args.config or task['config']
    if not Path(config).is_file():
        parser.error(f'--config {config} does not exist')
    work_dir = Path(args.work_dir or f'work_dirs/demo_{args.task}')
    work_dir.mkdir(parents=True, exist_ok=True)

    print(f"[demo] synthetic dataset: {task['data']()}", flush=True)
    cli = [sys.executable, '-m', 'hrnet_mm.cli']
    extra = ['--cfg-options', *args.cfg_options] if args.cfg_options else []
    start = time.time()
    run(cli + ['train', config, '--work-dir', str(work_dir), *extra], work_dir / 'demo_train.log')
    train_minutes = (time.time() - start) / 60
    checkpoint = (work_dir / 'last_checkpoint').read_text().strip()
    pictures_dir = work_dir.resolve() / 'pictures'
    out = run(cli + ['test', config, checkpoint, '--work-dir', str(work_dir), '--show-dir', str(pictures_dir),
                     *extra], work_dir / 'demo_test.log')
    value = float(re.findall(task['metric'], out)[-1])
    pictures = sorted(pictures_dir.rglob('*.png')) + sorted(pictures_dir.rglob('*.jpg'))
    print(f"\n[demo] {task['model']}, trained from scratch on {device_name()} in {train_minutes:.1f} min")
    lower = task.get('lower', False)
    print(f"[demo] held-out {task['name']}: {value:.4g} (target {'<=' if lower else '>='} {task['target']})")
    print(f'[demo] {len(pictures)} pictures of predictions under {pictures_dir}')
    met = value <= task['target'] if lower else value >= task['target']
    return 0 if met else 1


if __name__ == '__main__':
    sys.exit(main())
