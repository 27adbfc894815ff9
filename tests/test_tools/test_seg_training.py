"""End-to-end runs of the demo config with mmseg's runner on the shared synthetic data (CPU)."""
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from hrnet_mm.testing.checkpoints import load_run_checkpoint

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'


def small_run_cfg(data_root: Path, work_dir: Path, max_iters: int, ckpt_interval: int) -> Config:
    cfg = Config.fromfile(str(DEMO))
    cfg.work_dir = str(work_dir)
    cfg.crop_size = (64, 64)
    cfg.model.data_preprocessor.size = (64, 64)
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = str(data_root)
        loader.num_workers, loader.persistent_workers = 0, False
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.dataset.pipeline[2].scale = (64, 64)
    cfg.train_dataloader.dataset.pipeline[3].crop_size = (64, 64)
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = max_iters
    cfg.param_scheduler[1].end = max_iters
    cfg.param_scheduler[0].end = 5
    cfg.param_scheduler[1].begin = 5
    cfg.default_hooks.checkpoint.interval = ckpt_interval
    cfg.default_hooks.checkpoint.max_keep_ckpts = 10
    cfg.default_hooks.logger.interval = 5
    return cfg


def test_short_training_lowers_the_loss(seg_data, tmp_path):
    runner = Runner.from_cfg(small_run_cfg(seg_data, tmp_path, max_iters=40, ckpt_interval=40))
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 40
    first, last = losses[:8].mean(), losses[-8:].mean()
    assert last < 0.7 * first, (first, last)
    assert runner.message_hub.get_scalar('val/mIoU').current() > 0


class _Interrupt(Hook):
    """Stops the run like a crash or Ctrl-C after a given iteration."""

    def __init__(self, at: int):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            raise KeyboardInterrupt(f'interrupted after iteration {self.at}')


def _weights(runner):
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


def test_resume_after_interruption_matches_an_uninterrupted_run(seg_data, tmp_path):
    full = Runner.from_cfg(small_run_cfg(seg_data, tmp_path / 'full', max_iters=12, ckpt_interval=6))
    full.train()
    expected = _weights(full)

    stopped = Runner.from_cfg(small_run_cfg(seg_data, tmp_path / 'stopped', max_iters=12, ckpt_interval=6))
    stopped.register_hook(_Interrupt(at=8))
    with pytest.raises(KeyboardInterrupt):
        stopped.train()
    assert (tmp_path / 'stopped' / 'iter_6.pth').exists() and not (tmp_path / 'stopped' / 'iter_12.pth').exists()
    # mmengine checkpoints hold HistoryBuffers and numpy objects: safe loading must keep all of them.
    saved = load_run_checkpoint(tmp_path / 'stopped' / 'iter_6.pth')
    assert saved['meta']['iter'] == 6 and 'optimizer' in saved and 'param_schedulers' in saved

    cfg = small_run_cfg(seg_data, tmp_path / 'stopped', max_iters=12, ckpt_interval=6)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.iter == 12
    state = resumed.optim_wrapper.optimizer.state_dict()['state']
    assert int(next(iter(state.values()))['step']) == 12  # AdamW moments continued, not restarted
    lr = resumed.optim_wrapper.get_lr()['lr'][0]
    assert lr == pytest.approx(full.optim_wrapper.get_lr()['lr'][0])
    got = _weights(resumed)
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-4, atol=1e-5, msg=key)


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it), instead of a fixed one that may be taken."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def cli_options(seg_data: Path, iters: int):
    """--cfg-options that point the demo config at the shared data and shorten it to ``iters``."""
    return [f'train_dataloader.dataset.data_root={seg_data}', f'val_dataloader.dataset.data_root={seg_data}',
            f'test_dataloader.dataset.data_root={seg_data}', 'train_dataloader.batch_size=2',
            'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
            'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
            'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
            f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=2']


@pytest.mark.slow
def test_two_process_torchrun_training(seg_data, tmp_path):
    # CPU and gloo on any host: two processes cannot share a single GPU under NCCL.
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    command = [sys.executable, '-m', 'hrnet_mm.cli', 'train', str(DEMO), '--work-dir', str(tmp_path), '--gpus', '2',
               '--master-port', str(free_port()), '--cfg-options', *cli_options(seg_data, 6)]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    # mmengine's environment report: two processes under the PyTorch launcher, gloo on CPU.
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert re.search(r'Iter\(train\) \[6/6\]', log) and (tmp_path / 'iter_6.pth').exists()
    assert re.search(r'mIoU: [0-9.]+', log)


@pytest.mark.slow
def test_tensorboard_flag_writes_event_files(seg_data, tmp_path):
    command = [sys.executable, '-m', 'hrnet_mm.cli', 'train', str(DEMO), '--work-dir', str(tmp_path), '--tensorboard',
               '--cfg-options', *cli_options(seg_data, 2)]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    events = list(tmp_path.rglob('events.out.tfevents.*'))
    assert events and events[0].stat().st_size > 0
