"""The synthetic classification set, and the demo config trained briefly with mmpretrain's stock tools (CPU)."""
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from hrnet_mm.checkpoint import publish_checkpoint
from hrnet_mm.cli.runner import tool_path
from hrnet_mm.synthetic.cls_data import CLASSES, generate
from hrnet_mm.testing.checkpoints import load_run_checkpoint

REPO = Path(__file__).resolve().parents[2]

DEMO = REPO / 'configs' / 'hrnet_cls' / 'hrnet-w18s-v1-c_1xb32-1000it_synthetic-64x64.py'


@pytest.fixture(scope='module')
def cls_data(tmp_path_factory) -> Path:
    return generate(str(tmp_path_factory.mktemp('cls_data')), train=24, val=12, size=64, seed=0)


def _files(root: Path, split: str):
    return {name: sorted((root / split / name).glob('*.png')) for name in CLASSES}


def test_generator_writes_balanced_class_folders_and_a_held_out_split(cls_data, tmp_path):
    assert len(CLASSES) >= 6 and list(CLASSES) == sorted(CLASSES)
    for split, count in (('train', 24), ('val', 12)):
        files = _files(cls_data, split)
        assert sorted(p.name for p in (cls_data / split).iterdir()) == list(CLASSES)
        assert [len(v) for v in files.values()] == [count // len(CLASSES)] * len(CLASSES)
        img = cv2.imread(str(files['disc'][0]))
        assert img.shape == (64, 64, 3) and img.std() > 10  # textured, not flat
    train = {cv2.imread(str(p)).tobytes() for v in _files(cls_data, 'train').values() for p in v}
    val = {cv2.imread(str(p)).tobytes() for v in _files(cls_data, 'val').values() for p in v}
    assert not train & val  # held out: no validation image is a training image
    # Deterministic by seed; a smaller rewrite of the same root keeps no stale images.
    again = generate(str(tmp_path / 'again'), train=24, val=12, size=64, seed=0)
    first = _files(cls_data, 'val')['star'][0]
    assert np.array_equal(cv2.imread(str(first)), cv2.imread(str(again / 'val' / 'star' / first.name)))
    generate(str(again), train=6, val=6, size=64, seed=0)
    assert [len(v) for v in _files(again, 'train').values()] == [1] * len(CLASSES)


def test_mmpretrain_custom_dataset_reads_the_labels(cls_data):
    from mmpretrain.datasets import CustomDataset
    dataset = CustomDataset(data_root=str(cls_data), data_prefix='val', with_label=True,
                            metainfo=dict(classes=CLASSES))
    assert len(dataset) == 12 and dataset.metainfo['classes'] == CLASSES
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert Path(info['img_path']).parent.name == CLASSES[info['gt_label']]


def _options(data_root: Path, iters: int):
    return [f'train_dataloader.dataset.data_root={data_root}', f'val_dataloader.dataset.data_root={data_root}',
            f'test_dataloader.dataset.data_root={data_root}', 'train_dataloader.batch_size=4',
            'val_dataloader.batch_size=4', 'test_dataloader.batch_size=4',
            'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
            'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
            'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
            f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=1',
            'param_scheduler.0.end=2', 'param_scheduler.1.begin=2', f'param_scheduler.1.end={iters}']


@pytest.mark.slow
def test_stock_tools_train_and_evaluate_the_demo_config(cls_data, tmp_path):
    launch = [sys.executable, '-m', 'hrnet_mm.launch']
    train = subprocess.run(launch + [str(tool_path('mmpretrain', 'train')), str(DEMO), '--work-dir', str(tmp_path),
                                     '--cfg-options', *_options(cls_data, 4)],
                           cwd=REPO, capture_output=True, text=True, timeout=600)
    log = train.stdout + train.stderr
    assert train.returncode == 0, log[-3000:]
    assert re.search(r'Iter\(train\) \[4/4\]', log)
    checkpoint = tmp_path / 'iter_4.pth'
    saved = load_run_checkpoint(checkpoint)
    assert saved['meta']['iter'] == 4 and 'neck.final_layer.0.weight' in saved['state_dict']
    top1 = [float(v) for v in re.findall(r'accuracy/top1: ([0-9.]+)', log)]
    assert top1 and 0 <= top1[-1] <= 100

    # The stock test tool on a release copy (hrnet-mm publish), loaded through the checked loader.
    published = publish_checkpoint(checkpoint, tmp_path / 'release' / 'cls.pth')
    test = subprocess.run(launch + [str(tool_path('mmpretrain', 'test')), str(DEMO), str(published), '--work-dir',
                                    str(tmp_path / 'test'), '--show-dir', str(tmp_path / 'pictures'),
                                    '--cfg-options', *_options(cls_data, 4)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    log = test.stdout + test.stderr
    assert test.returncode == 0, log[-3000:]
    # The test tool loads the same weights: its held-out accuracy equals the one validation reported.
    assert float(re.findall(r'accuracy/top1: ([0-9.]+)', log)[-1]) == pytest.approx(top1[-1])
    assert len(list((tmp_path / 'pictures').rglob('*.png'))) == 12

    # Stock resume, through the checked loader: two more iterations from iter_4.
    resumed = subprocess.run(launch + [str(tool_path('mmpretrain', 'train')), str(DEMO), '--work-dir', str(tmp_path),
                                       '--resume', '--cfg-options', *_options(cls_data, 6)],
                             cwd=REPO, capture_output=True, text=True, timeout=600)
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert re.search(r'resumed epoch: \d+, iter: 4', log) and re.search(r'Iter\(train\) \[6/6\]', log), log[-3000:]
