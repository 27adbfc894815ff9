"""Saving loses nothing: a run killed at any moment of a save resumes; publishing is atomic and strict."""
import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hrnet_mm  # noqa: F401
from hrnet_mm.checkpoint import CheckpointError, load_local_checkpoint, publish_checkpoint
from hrnet_mm.models import HRNet

# A toy mmengine run: 3 iterations, a checkpoint after each. KILL_AT=k makes the process SIGKILL itself
# at the k-th file-system event of the save at iteration 2 (a write is cut in half first); KILL_AT=-1
# lists the events instead. RESUME=1 resumes and trains to the end.
DRIVER = r'''
import builtins, json, os, signal, sys
import torch
from torch import nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
import hrnet_mm

work_dir, hook_type, kill_at, resume = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == '1'
events, watching = [], [False]


def event(kind, path, act):
    # Only the files a save writes into the work dir itself (logs live in a sub-folder).
    if not watching[0] or os.path.dirname(os.path.abspath(path)) != work_dir:
        return act()
    events.append([kind, os.path.basename(path)])
    if len(events) - 1 == kill_at:
        if kind == 'write':
            act(half=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return act()


class Watched:
    def __init__(self, f, path):
        self._f, self._path = f, path

    def write(self, data):
        def act(half=False):
            if not half:
                return self._f.write(data)
            self._f.write(data[:len(data) // 2])
            self._f.flush()
        return event('write', self._path, act)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)


real_open, real_fdopen, real_replace, real_remove = builtins.open, os.fdopen, os.replace, os.remove
builtins.open = lambda file, mode='r', *a, **k: (
    Watched(real_open(file, mode, *a, **k), str(file)) if isinstance(file, (str, os.PathLike)) and 'w' in mode
    else real_open(file, mode, *a, **k))
os.fdopen = lambda fd, mode='r', *a, **k: (
    Watched(real_fdopen(fd, mode, *a, **k), os.readlink(f'/proc/self/fd/{fd}')) if 'w' in mode
    else real_fdopen(fd, mode, *a, **k))
os.replace = lambda src, dst, **k: event('replace', str(dst), lambda half=False: real_replace(src, dst, **k))
os.remove = lambda path, **k: event('remove', str(path), lambda half=False: real_remove(path, **k))


class Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.w = nn.Linear(2, 1)

    def forward(self, x, mode='tensor'):
        out = self.w(x)
        return {'loss': out.pow(2).mean()} if mode == 'loss' else out


class Watch(Hook):
    def before_train_iter(self, runner, batch_idx, data_batch=None):
        watching[0] = runner.iter == 1  # the second iteration, whose end saves iter_2.pth


loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 2)), batch_size=2)
runner = Runner(model=Toy(), work_dir=work_dir, train_dataloader=loader, default_scope='mmengine',
                train_cfg=dict(by_epoch=False, max_iters=3), optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
                default_hooks=dict(checkpoint=dict(type=hook_type, interval=1, by_epoch=False, max_keep_ckpts=1)),
                custom_hooks=[dict(type=Watch)], resume=resume, experiment_name=f'kill-{kill_at}-{int(resume)}')
runner.train()
print(json.dumps({'events': events, 'iter': runner.iter}))
'''


def _run(tmp_path: Path, work_dir: Path, hook: str, kill_at: int, resume: bool = False) -> subprocess.CompletedProcess:
    driver = tmp_path / 'driver.py'
    driver.write_text(DRIVER)
    command = [sys.executable, str(driver), str(work_dir.resolve()), hook, str(kill_at), '1' if resume else '0']
    # A CPU run wherever the tests run: the save's file-system steps are what is tested.
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def _events(tmp_path: Path, hook: str) -> list:
    done = _run(tmp_path, tmp_path / f'listing-{hook}', hook, -1)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])['events']


def test_a_run_killed_at_any_moment_of_a_save_resumes(tmp_path):
    events = _events(tmp_path, 'hrnet_mm.SafeCheckpointHook')
    kinds = [kind for kind, _ in events]
    # What the save of iteration 2 does, in order: the bytes, the rename, last_checkpoint, the old file.
    assert kinds[0] == 'write' and re.fullmatch(r'iter_2\.pth\.\w+-\d+-\w+\.partial', events[0][1]), events
    assert ['replace', 'iter_2.pth'] in events and ['remove', 'iter_1.pth'] in events, events
    assert events.index(['remove', 'iter_1.pth']) == len(events) - 1, 'the old checkpoint must go last'
    for kill_at in range(len(events)):
        work_dir = tmp_path / f'killed-{kill_at}'
        killed = _run(tmp_path, work_dir, 'hrnet_mm.SafeCheckpointHook', kill_at)
        assert killed.returncode == -9, (kill_at, killed.stderr[-2000:])
        last = (work_dir / 'last_checkpoint').read_text().strip()
        assert Path(last).name in ('iter_1.pth', 'iter_2.pth') and load_local_checkpoint(last)['meta']['iter'] >= 1
        resumed = _run(tmp_path, work_dir, 'hrnet_mm.SafeCheckpointHook', -2, resume=True)
        assert resumed.returncode == 0, (kill_at, events[kill_at], resumed.stderr[-3000:])
        assert json.loads(resumed.stdout.strip().splitlines()[-1])['iter'] == 3
        assert not list(work_dir.glob('*.partial')), 'a resumed run cleans up what the killed save left'


def test_the_stock_hook_can_leave_nothing_to_resume(tmp_path):
    """The oracle for the test above: mmengine's own hook deletes first, then writes in place."""
    events = _events(tmp_path, 'CheckpointHook')
    assert events[0] == ['remove', 'iter_1.pth'] and events[1] == ['write', 'iter_2.pth'], events
    work_dir = tmp_path / 'stock'
    assert _run(tmp_path, work_dir, 'CheckpointHook', 1).returncode == -9
    left = [p for p in work_dir.glob('iter_*.pth')]
    assert [p.name for p in left] == ['iter_2.pth']
    with pytest.raises(CheckpointError, match='damaged'):
        load_local_checkpoint(left[0])


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp('pub') / 'iter_9.pth'
    model = HRNet(arch='w18-small-v1')
    torch.save({'meta': {'iter': 9, 'cfg': "model = dict(type='HRNet')\n"}, 'state_dict': model.state_dict(),
                'optimizer': {'state': {}}}, path)
    return path


def test_publish_refuses_non_finite_weights_naming_the_first(tmp_path):
    state = HRNet(arch='w18-small-v1').state_dict()
    bad_key = 'stage2.0.branches.1.0.conv1.weight'
    state[bad_key] = state[bad_key].clone()
    state[bad_key][0, 0, 0, 0] = float('nan')
    src = tmp_path / 'nan.pth'
    torch.save({'state_dict': state}, src)
    with pytest.raises(CheckpointError, match=f'NaN or Inf weights \\(first: {bad_key}\\)'):
        publish_checkpoint(src, tmp_path / 'out' / 'model.pth')
    assert not (tmp_path / 'out').exists() or not list((tmp_path / 'out').iterdir())


def test_publish_on_a_full_disk_fails_in_one_line_and_leaves_nothing(trained, tmp_path, monkeypatch):
    def full_disk(obj, f, *args, **kwargs):
        f.write(b'PK\x03\x04 partial')
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(torch, 'save', full_disk)
    with pytest.raises(CheckpointError, match='cannot write the published copy .*: No space left on device'):
        publish_checkpoint(trained, tmp_path / 'model.pth')
    assert list(tmp_path.iterdir()) == []


def test_publish_keeps_plain_config_text_and_drops_code(tmp_path):
    src = tmp_path / 'ckpt.pth'
    torch.save({'meta': {'cfg': "import os\nos.system('true')\n", 'iter': 1},
                'state_dict': {'w': torch.ones(1)}}, src)
    published = load_local_checkpoint(publish_checkpoint(src, tmp_path / 'code.pth'))
    assert published['meta'] == {'iter': 1}
    torch.save({'meta': {'cfg': "model = dict(type='HRNet', widths=[18, 36])\n"}, 'state_dict': {'w': torch.ones(1)}},
               src)
    published = load_local_checkpoint(publish_checkpoint(src, tmp_path / 'plain.pth'))
    assert published['meta']['cfg'] == "model = dict(type='HRNet', widths=[18, 36])\n"


CONFIGS = sorted((Path(__file__).resolve().parents[2] / 'configs').rglob('*.py'))


@pytest.mark.parametrize('config', CONFIGS, ids=lambda p: p.name)
def test_every_packaged_config_saves_with_the_safe_hook(config):
    from mmengine.config import Config
    from mmengine.registry import HOOKS
    cfg = Config.fromfile(str(config))
    hook = cfg.default_hooks.checkpoint
    assert hook.type == 'hrnet_mm.SafeCheckpointHook'
    assert HOOKS.get(hook.type).__name__ == 'SafeCheckpointHook'


# ------------------------------------------------------------------ temporary files of their own
def test_publish_never_writes_through_a_planted_symlink(trained, tmp_path):
    """Symlinks at the fixed temporary name of earlier versions and at the final name: neither is followed."""
    victim = tmp_path / 'victim.txt'
    victim.write_text('keep me')
    out = tmp_path / 'release'
    out.mkdir()
    (out / 'model.publishing.partial').symlink_to(victim)
    first = publish_checkpoint(trained, out / 'model.pth')
    first.unlink()
    first.symlink_to(victim)  # the exact name the next publish renames onto
    second = publish_checkpoint(trained, out / 'model.pth')
    assert second == first and not second.is_symlink() and load_local_checkpoint(second)['meta']['iter'] == 9
    assert victim.read_text() == 'keep me'
    assert sorted(p.name for p in out.iterdir()) == sorted(['model.publishing.partial', first.name])


def test_a_run_starting_in_a_work_dir_spares_saves_in_progress(tmp_path, monkeypatch):
    """Only a temporary file whose writer has ended on this host is removed; a live writer's survives."""
    from mmengine.fileio import LocalBackend
    from mmengine.hooks import CheckpointHook

    from hrnet_mm.checkpoint.saving import SafeCheckpointHook, temporary_file
    work = tmp_path / 'work'
    work.mkdir()
    live = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])
    ended = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
    try:
        mine = Path(temporary_file(work / 'iter_4.pth'))
        in_progress = work / mine.name.replace(f'-{os.getpid()}-', f'-{live.pid}-')
        dead = work / mine.name.replace(f'-{os.getpid()}-', f'-{ended.stdout.strip()}-')
        other_host = work / re.sub(r'\.\w+-(\d+)-', r'.elsewhere-\1-', dead.name)
        for path in (in_progress, dead, other_host):
            path.write_bytes(b'PK')
        hook = SafeCheckpointHook(interval=1, out_dir=str(work))

        class _Runner:
            work_dir = str(work)
            cfg = None

        monkeypatch.setattr(CheckpointHook, 'before_train', lambda self, runner: None)  # needs a full runner
        hook.out_dir, hook.file_backend = str(work), LocalBackend()
        hook.before_train(_Runner())
        assert in_progress.exists() and other_host.exists() and mine.exists()
        assert not dead.exists()
    finally:
        live.kill()
        live.wait()
