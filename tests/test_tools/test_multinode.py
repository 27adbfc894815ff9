"""Jobs spanning two launches on this host, one process each (CPU, gloo).

``hrnet-mm train --nnodes 2 --node-rank R`` (torchrun per node) and ``hrnet-mm train --launcher slurm``
under the environment srun gives each of two tasks.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hrnet_mm  # noqa: F401  (allows mmengine checkpoints under weights_only loading)
from hrnet_mm.testing.checkpoints import load_run_checkpoint

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'
ITERS = 4
# Both processes on CPU (gloo) on any host, also one with a single GPU, which two processes cannot share.
CPU_ONLY = dict(OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')


def free_port() -> int:
    """A TCP port nothing listens on now, picked by the OS (bind to port 0)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def short_run_options(data_root: Path) -> list:
    """--cfg-options pointing the seg demo at the shared synthetic data, shortened to ITERS iterations."""
    options = [f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
               for key in (f'dataset.data_root={data_root}', 'num_workers=0', 'persistent_workers=False')]
    return options + ['train_dataloader.batch_size=2', 'val_dataloader.batch_size=2', f'train_cfg.max_iters={ITERS}',
                      f'train_cfg.val_interval={ITERS}', f'default_hooks.checkpoint.interval={ITERS}',
                      'default_hooks.logger.interval=1', 'randomness.seed=0']


def run_two(tmp_path: Path, commands: list, envs: list) -> list:
    """Start both commands at once, wait for both, return their outputs.

    Each command runs in its own process group. When one fails, the other is stopped with its torchrun
    workers at once (its agent would otherwise wait minutes for the failed peer), and so is a run that
    exceeds the time limit.
    """
    procs = []
    for rank, (command, env) in enumerate(zip(commands, envs)):
        log = (tmp_path / f'node{rank}.log').open('w')
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        procs.append((proc, log))
    deadline = time.monotonic() + 300
    try:
        while any(proc.poll() is None for proc, _ in procs) and time.monotonic() < deadline:
            if any(proc.poll() not in (None, 0) for proc, _ in procs):
                break
            time.sleep(0.5)
    finally:
        for proc, log in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
    logs = [(tmp_path / f'node{rank}.log').read_text() for rank in range(len(commands))]
    codes = [proc.returncode for proc, _ in procs]
    assert codes == [0] * len(commands), f'exit codes {codes}\n\n' + '\n\n'.join(log[-3000:] for log in logs)
    return logs


def check_one_job_of_two(logs: list, work_dirs: list) -> None:
    """What both launch styles must show: one 2-process job, trained to the end, saved once by rank 0."""
    # Global rank 0 reports a 2-process job and trains it to the end.
    assert 'Distributed training: True' in logs[0]
    assert 'GPU number: 2' in logs[0]  # mmengine's name for the world size
    assert re.search(rf'Iter\(train\) \[{ITERS}/{ITERS}\]', logs[0]) and re.search(r'mIoU: [0-9.]+', logs[0])
    # The second process joined the same process group: its run folder has the timestamp rank 0 broadcast.
    run_dirs = [sorted(p.name for p in work_dir.iterdir() if p.is_dir()) for work_dir in work_dirs]
    assert len(run_dirs[0]) == 1 and run_dirs[1] == run_dirs[0]
    # Only global rank 0 saves: the first work dir holds the checkpoint, the second none.
    assert (work_dirs[0] / f'iter_{ITERS}.pth').is_file() and not list(work_dirs[1].rglob('*.pth'))
    checkpoint = load_run_checkpoint(work_dirs[0] / f'iter_{ITERS}.pth')
    assert checkpoint['meta']['iter'] == ITERS


def train_command(data_root: Path, work_dir: Path, *flags: str) -> list:
    return [sys.executable, '-m', 'hrnet_mm.cli', 'train', str(DEMO), '--work-dir', str(work_dir), *flags,
            '--cfg-options', *short_run_options(data_root)]


@pytest.mark.slow
def test_two_nodes_train_together(seg_data, tmp_path):
    port = free_port()
    env = dict(os.environ, **CPU_ONLY)
    work_dirs = [tmp_path / f'node{rank}' for rank in (0, 1)]  # one work dir per node, as on two machines
    commands = [train_command(seg_data, work_dirs[rank], '--gpus', '1', '--nnodes', '2', '--node-rank', str(rank),
                              '--master-addr', '127.0.0.1', '--master-port', str(port)) for rank in (0, 1)]
    logs = run_two(tmp_path, commands, [env, env])
    # Each node ran torchrun for its own rank, pointed at the same master.
    for rank, log in enumerate(logs):
        assert f'--nnodes=2 --node_rank={rank} --master_addr=127.0.0.1 --master_port={port}' in log
    assert 'Distributed launcher: pytorch' in logs[0]
    check_one_job_of_two(logs, work_dirs)
    checkpoint = load_run_checkpoint(work_dirs[0] / f'iter_{ITERS}.pth')
    assert "launcher = 'pytorch'" in checkpoint['meta']['cfg'] and "backend='gloo'" in checkpoint['meta']['cfg']


@pytest.mark.slow
def test_slurm_launcher_runs_one_process_per_task(seg_data, tmp_path):
    # What srun sets for each of 2 tasks (mmengine's slurm launcher reads these); MASTER_ADDR is given
    # so that no `scontrol` is needed to find the first host of SLURM_NODELIST.
    port = free_port()
    envs = [dict(os.environ, **CPU_ONLY, SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank), SLURM_NTASKS='2',
                 SLURM_NODELIST='localhost', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port)) for rank in (0, 1)]
    work_dirs = [tmp_path / f'task{rank}' for rank in (0, 1)]
    commands = [train_command(seg_data, work_dirs[rank], '--launcher', 'slurm') for rank in (0, 1)]
    logs = run_two(tmp_path, commands, envs)
    for log in logs:  # no torchrun: each task is already one process
        assert 'torch.distributed.run' not in log.splitlines()[0] and '--launcher slurm' in log.splitlines()[0]
    assert 'Distributed launcher: slurm' in logs[0]
    check_one_job_of_two(logs, work_dirs)
