"""Accuracy of the exported models: PyTorch vs float32 ONNX vs int8 ONNX on the demos' held-out splits.

Each synthetic demo (segmentation, pose, classification) is trained briefly here, exported with
``hrnet-mm export --dynamic --int8``, and its held-out split is evaluated three times with the
library's own dataloader, test step and metric: the PyTorch model, the float32 file and the int8 file
(onnxruntime and OpenVINO). Expected, as docs/deploy.md states: float32 equal
to PyTorch to the digits the metric prints; int8 within 1.0 mIoU, 0.01 AP, 1.0 top-1.
"""
import logging
from pathlib import Path

import openvino  # noqa: F401  (requirements/dev.txt: a set-up without it fails here, loudly)
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from hrnet_mm.apis import ENGINES, build_model, evaluate, evaluate_export
from hrnet_mm.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'


def _in_process(cfg: Config, data_root: Path, work_dir: Path) -> Config:
    cfg.work_dir = str(work_dir)
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = str(data_root)
        loader.num_workers, loader.persistent_workers = 0, False
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1000)
    cfg.default_hooks.pop('visualization', None)
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=0)  # mmengine draws a new seed per run otherwise: a different model each time
    return cfg


def seg_cfg(data_root: Path, work_dir: Path) -> Config:
    cfg = Config.fromfile(str(CONFIGS / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'))
    cfg = _in_process(cfg, data_root, work_dir)
    size = (64, 64)
    cfg.crop_size = cfg.model.data_preprocessor.size = size
    cfg.train_dataloader.dataset.pipeline[2].scale = size
    cfg.train_dataloader.dataset.pipeline[3].crop_size = size
    iters = 120
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = iters
    cfg.param_scheduler[0].end, cfg.param_scheduler[1].begin, cfg.param_scheduler[1].end = 10, 10, iters
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters)
    return cfg


def pose_cfg(data_root: Path, work_dir: Path) -> Config:
    cfg = Config.fromfile(str(CONFIGS / 'hrnet_pose' / 'td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py'))
    cfg = _in_process(cfg, data_root, work_dir)
    ann = str(data_root / 'annotations/person_keypoints_val.json')
    cfg.val_evaluator.ann_file = cfg.test_evaluator.ann_file = ann
    epochs = 8
    cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = epochs
    cfg.param_scheduler[1].end = cfg.param_scheduler[1].T_max = epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=epochs)
    return cfg


def cls_cfg(data_root: Path, work_dir: Path) -> Config:
    cfg = Config.fromfile(str(CONFIGS / 'hrnet_cls' / 'hrnet-w18s-v1-c_1xb32-1000it_synthetic-64x64.py'))
    cfg = _in_process(cfg, data_root, work_dir)
    iters = 500
    cfg.train_dataloader.batch_size = 16
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = iters
    cfg.param_scheduler[0].end, cfg.param_scheduler[1].begin, cfg.param_scheduler[1].end = 10, 10, iters
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters)
    return cfg


# task -> (config builder, metric key, printed decimals, int8 tolerance, floor the trained model must reach)
TASKS = {
    'seg': (seg_cfg, 'mIoU', 2, 1.0, 30.0),
    'pose': (pose_cfg, 'coco/AP', 4, 0.01, 0.2),
    'cls': (cls_cfg, 'accuracy/top1', 2, 1.0, 40.0),
}


# Held-out splits large enough that the int8 tolerances are several samples wide (1.0 top-1 = 3 of 300
# images; AP over 64 people), training sets as small as a short run needs.
@pytest.fixture(scope='module')
def cls_data(tmp_path_factory) -> Path:
    from hrnet_mm.synthetic.cls_data import generate
    return generate(str(tmp_path_factory.mktemp('cls_data')), train=480, val=300, size=64, seed=0)


@pytest.fixture(scope='module')
def pose_data(tmp_path_factory) -> Path:
    from hrnet_mm.synthetic.pose_data import generate
    return generate(str(tmp_path_factory.mktemp('pose_data')), train=192, val=64, seed=0)


@pytest.mark.slow
@pytest.mark.release
@pytest.mark.parametrize('task', sorted(TASKS))
def test_exported_float32_equals_pytorch_and_int8_stays_within_the_targets(task, request, tmp_path, capsys):
    data_root = request.getfixturevalue({'seg': 'seg_data', 'pose': 'pose_data', 'cls': 'cls_data'}[task])
    make_cfg, key, digits, tolerance, floor = TASKS[task]
    cfg = make_cfg(data_root, tmp_path / 'train')
    torch.manual_seed(0)
    runner = Runner.from_cfg(cfg)
    runner.logger.setLevel(logging.WARNING)
    runner.train()
    checkpoint = sorted((tmp_path / 'train').glob('*.pth'))[-1]
    config = tmp_path / 'config.py'
    make_cfg(data_root, tmp_path / 'train').dump(str(config))

    onnx_file = tmp_path / 'model.onnx'
    assert main(['export', str(config), str(checkpoint), '--out', str(onnx_file), '--dynamic', '--int8',
                 '--calib', '16']) == 0
    model, library, loaded = build_model(str(config), str(checkpoint))
    results = {'PyTorch': evaluate(model, loaded, library)[key]}
    for engine in ENGINES:
        for kind, path in (('fp32', onnx_file), ('int8', onnx_file.with_suffix('.int8.onnx'))):
            # what `hrnet-mm test CONFIG FILE --engine ENGINE` prints: one command per number of docs/deploy.md
            results[f'{engine} {kind}'] = evaluate_export(str(config), path, engine)[key]
    with capsys.disabled():
        print(f'\n[{task}] held-out {key}: ' + ', '.join(f'{k} {v:.{digits}f}' for k, v in results.items()))
    reference = results['PyTorch']
    assert reference > floor, results  # a trained model: the comparison means something
    for name, value in results.items():
        if name.endswith('fp32'):
            assert round(value, digits) == round(reference, digits), (name, results)
        elif name.endswith('int8'):
            assert abs(value - reference) <= tolerance, (name, results)
