"""The pose demo config trained briefly with mmpose's runner on shared synthetic data (CPU)."""
import json
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from hrnet_mm.apis import infer_pose
from hrnet_mm.checkpoint import publish_checkpoint
from hrnet_mm.testing.checkpoints import load_run_checkpoint

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / 'configs' / 'hrnet_pose' / 'td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py'


def pose_cfg(data_root: Path, work_dir: Path, max_epochs: int) -> Config:
    cfg = Config.fromfile(str(DEMO))
    cfg.work_dir = str(work_dir)
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = str(data_root)
        loader.num_workers, loader.persistent_workers = 0, False
    cfg.val_evaluator.ann_file = cfg.test_evaluator.ann_file = str(data_root / 'annotations/person_keypoints_val.json')
    cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = max_epochs
    cfg.param_scheduler[1].end = cfg.param_scheduler[1].T_max = max_epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, max_keep_ckpts=3)
    return cfg


@pytest.fixture(scope='module')
def trained(pose_data, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('pose_run')
    runner = Runner.from_cfg(pose_cfg(pose_data, work_dir, max_epochs=8))
    runner.train()
    return runner, work_dir


def test_short_pose_training_lowers_the_loss(trained):
    runner, _ = trained
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert losses[-6:].mean() < 0.6 * losses[:6].mean()
    assert runner.message_hub.get_scalar('val/coco/AP').current() > 0.2


def test_inference_draws_the_skeleton_near_the_drawn_keypoints(trained, pose_data, tmp_path):
    runner, work_dir = trained
    annotations = json.loads((pose_data / 'annotations/person_keypoints_val.json').read_text())
    errors = []
    # A release copy (hrnet-mm publish), as users share them: the inferencer loads it through the checked loader.
    published = str(publish_checkpoint(work_dir / 'epoch_8.pth', tmp_path / 'release' / 'pose.pth'))
    for ann in annotations['annotations'][:4]:
        image = annotations['images'][ann['image_id'] - 1]
        image_path = str(pose_data / 'images/val' / image['file_name'])
        person, *_ = infer_pose(str(DEMO), published, image_path, str(tmp_path))
        truth = np.array(ann['keypoints']).reshape(17, 3)
        seen = truth[:, 2] == 2
        found = np.array(person['keypoints'])
        size = max(ann['bbox'][2], ann['bbox'][3])
        errors.append(np.median(np.linalg.norm(found[seen] - truth[seen, :2], axis=1)) / size)
    drawings = list((tmp_path / 'visualizations').glob('*.png'))
    assert len(drawings) == 4 and all(p.stat().st_size > 1000 for p in drawings)
    assert np.median(errors) < 0.1, errors  # median keypoint within 10% of the person's size


class _StopAfterEpoch(Hook):
    def after_train_epoch(self, runner):
        raise KeyboardInterrupt('stopped after the first epoch')


def test_pose_resume_continues_to_the_final_epoch(pose_data, tmp_path):
    stopped = Runner.from_cfg(pose_cfg(pose_data, tmp_path, max_epochs=2))
    stopped.register_hook(_StopAfterEpoch(), priority='LOWEST')  # after the checkpoint is written
    with pytest.raises(KeyboardInterrupt):
        stopped.train()
    assert (tmp_path / 'epoch_1.pth').exists()
    assert load_run_checkpoint(tmp_path / 'epoch_1.pth')['meta']['epoch'] == 1
    cfg = pose_cfg(pose_data, tmp_path, max_epochs=2)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.epoch == 2 and resumed.iter == 2 * len(resumed.train_dataloader)
    assert (tmp_path / 'epoch_2.pth').exists()
