"""No code runs from a checkpoint: crafted pickles made of allowlisted names are refused everywhere."""
import contextlib
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from torch import nn

import hrnet_mm  # noqa: F401  (routes mmengine's loading through the checked loader)
from hrnet_mm.checkpoint import CheckpointError, load_local_checkpoint
from hrnet_mm.testing import pickles as P

REPO = Path(__file__).resolve().parents[2]
SEG_DEMO = REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'


# The assembler every hostile-checkpoint test shares.
_global, _str, _put, _get = P.global_, P.text, P.put, P.get


# torch's weights-only unpickler has no POP: values stay on the stack, STOP returns the last one.
TUPLE2, REDUCE, MARK, SETITEMS, STOP, EMPTY_DICT, NEWOBJ, EMPTY_TUPLE, BUILD = (
    b'\x86', b'R', b'(', b'u', b'.', b'}', b'\x81', b')', b'b')
HISTORY_BUFFER = ('mmengine.logging.history_buffer', 'HistoryBuffer')


def _getattr(owner: bytes, name: str) -> bytes:
    """getattr(<owner>, name), getattr being memo 0."""
    return _get(0) + owner + _str(name) + TUPLE2 + REDUCE


def exec_gadget(marker: Path, getattr_module: str = 'builtins') -> bytes:
    """getattr -> builtins -> exec; put exec into mmengine's globals as ``len``; HistoryBuffer() calls it."""
    payload = f'open({str(marker)!r}, "w").write("code ran")'
    return b''.join([
        b'\x80\x02', _global(getattr_module, 'getattr'), _put(0),
        _getattr(_get(0), '__self__'), _put(1),                       # the builtins module
        _getattr(_get(1), 'exec'), _put(2),                           # exec
        _global(*HISTORY_BUFFER), _put(3),
        _getattr(_getattr(_get(3), '__init__'), '__globals__'),            # mmengine's module globals
        MARK, _str('len'), _get(2), SETITEMS,
        _get(3), _str(payload), _str(payload), TUPLE2, REDUCE,             # HistoryBuffer(payload, payload)
        STOP])


def attribute_gadget(name: str) -> bytes:
    """getattr(HistoryBuffer, name): attribute access beyond the statistics methods."""
    return b''.join([b'\x80\x02', _global('builtins', 'getattr'), _put(0),
                     _getattr(_global(*HISTORY_BUFFER), name), STOP])


def statistics_injection_gadget() -> bytes:
    """A HistoryBuffer whose state registers another allowlisted callable as the 'mean' statistic."""
    return b''.join([b'\x80\x02', _global(*HISTORY_BUFFER), EMPTY_TUPLE, NEWOBJ, EMPTY_DICT,
                     MARK, _str('statistics_methods'), EMPTY_DICT, MARK, _str('mean'),
                     _global('collections', 'OrderedDict'), SETITEMS, SETITEMS, BUILD, STOP])


as_torch_file = P.as_torch_file


REFUSED_GETATTR = 'getattr('
# name -> (builder, the reason our reconstructors give)
GADGETS = {
    'exec': (lambda marker: exec_gadget(marker), REFUSED_GETATTR),
    'exec-py2-name': (lambda marker: exec_gadget(marker, getattr_module='__builtin__'), REFUSED_GETATTR),
    'init-attr': (lambda marker: attribute_gadget('__init__'), REFUSED_GETATTR),
    'dunder-class': (lambda marker: attribute_gadget('__class__'), REFUSED_GETATTR),
    'statistics': (lambda marker: statistics_injection_gadget(), "statistics_methods must be HistoryBuffer's own"),
}


@pytest.fixture(params=sorted(GADGETS))
def gadget(request, tmp_path):
    marker = tmp_path / 'marker.txt'
    build, reason = GADGETS[request.param]
    path = as_torch_file(build(marker), tmp_path / f'{request.param}.pth')
    before = dict(HistoryBuffer._statistics_methods)
    yield path, reason
    assert not marker.exists(), 'the checkpoint ran code'
    assert HistoryBuffer._statistics_methods == before, 'the checkpoint changed HistoryBuffer statistics'


def allowlisted(objects: list):
    """torch's scoped allowlist of ``objects`` for weights-only loads (torch >= 2.5's ``safe_globals``).

    A torch without one has nothing another library could widen: an empty block stands for it.
    """
    scoped = getattr(torch.serialization, 'safe_globals', None)
    return scoped(objects) if scoped is not None else contextlib.nullcontext()


def test_the_exec_gadget_is_live_where_getattr_is_allowlisted_process_wide(tmp_path):
    """What hrnet_mm once did: without this, the refusals below could pass on a broken gadget."""
    marker = tmp_path / 'marker.txt'
    path = as_torch_file(exec_gadget(marker), tmp_path / 'gadget.pth')
    if hasattr(torch.serialization, 'add_safe_globals'):
        load = ('torch.serialization.add_safe_globals([getattr, HistoryBuffer]); '
                f'torch.load({str(path)!r}, weights_only=True)')
    else:  # a torch with no allowlist (before 2.4): only a full unpickling reaches the gadget
        load = f'torch.load({str(path)!r}, weights_only=False)'
    script = 'import torch; from mmengine.logging import HistoryBuffer; ' + load
    subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
    assert marker.read_text() == 'code ran'


def test_our_loader_refuses_gadgets(gadget):
    path, reason = gadget
    with pytest.raises(CheckpointError, match=f'was refused.*{re.escape(reason)}'):
        load_local_checkpoint(path)


def test_gadgets_stay_refused_when_others_allowlist_the_real_objects(gadget):
    """Our table is our own: another library allowlisting getattr / HistoryBuffer widens nothing."""
    path, reason = gadget
    with allowlisted([getattr, HistoryBuffer]):
        with pytest.raises(CheckpointError, match=f'was refused.*{re.escape(reason)}'):
            load_local_checkpoint(path)


def test_mmengine_load_checkpoint_refuses_gadgets(gadget):
    from mmengine.runner import load_checkpoint
    path, reason = gadget
    with pytest.raises(CheckpointError, match=f'was refused.*{re.escape(reason)}'):
        load_checkpoint(nn.Linear(2, 2), str(path))


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)


@pytest.mark.parametrize('mode', ['resume', 'load_from'])
def test_runner_resume_and_load_from_refuse_gadgets(gadget, tmp_path, mode):
    from mmengine.runner import Runner
    path, reason = gadget
    from mmengine.registry import DefaultScope
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(2, 2)), batch_size=1)
    with DefaultScope.overwrite_default_scope('mmengine'):  # the runner's scope must not outlive the test
        runner = Runner(model=_Toy(), work_dir=str(tmp_path / 'work'), load_from=str(path), resume=mode == 'resume',
                        train_dataloader=loader, train_cfg=dict(by_epoch=True, max_epochs=1),
                        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)), default_scope='mmengine',
                        experiment_name=f'gadget-{mode}-{path.stem}')
        with pytest.raises(CheckpointError, match=f'was refused.*{re.escape(reason)}'):
            runner.load_or_resume()


def test_cli_test_and_export_refuse_a_gadget_in_one_line(tmp_path):
    marker = tmp_path / 'marker.txt'
    path = as_torch_file(exec_gadget(marker), tmp_path / 'model.pth')
    for command in (['test', str(SEG_DEMO), str(path), '--work-dir', str(tmp_path / 'w')],
                    ['export', str(SEG_DEMO), str(path), '--out', str(tmp_path / 'm.onnx')]):
        done = subprocess.run([sys.executable, '-m', 'hrnet_mm.cli', *command], capture_output=True, text=True,
                              cwd=tmp_path, timeout=300)
        assert done.returncode == 2, done.stderr[-2000:]
        assert REFUSED_GETATTR in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr[-2000:]
        assert not marker.exists()


def _genuine(tmp_path: Path) -> Path:
    hub = MessageHub.get_instance('unpickler-test')
    for value in (np.float64(0.5), 1.5, np.float32(2.0)):
        hub.update_scalar('train/loss', value)
    hub.update_info('iter', np.int64(7))
    checkpoint = {'meta': {'epoch': 1, 'seed': np.int64(3), 'arr': np.arange(3, dtype=np.int32),
                           'sigmas': np.array([0.1, 0.2]), 'flag': np.bool_(True), 'big': np.array([2.5], '>f8')},
                  'message_hub': hub.state_dict(), 'state_dict': {'w': torch.ones(2)}}
    path = tmp_path / 'ckpt.pth'
    torch.save(checkpoint, path)
    return path


def test_genuine_mmengine_checkpoint_loads_in_a_fresh_process(tmp_path):
    path = _genuine(tmp_path)
    # A fresh process: HistoryBuffer has not registered its statistics yet when the file is read.
    script = ('import hrnet_mm, torch; from hrnet_mm.checkpoint import load_local_checkpoint; '
              f'c = load_local_checkpoint({str(path)!r}); '
              "b = c['message_hub']['log_scalars']['train/loss']; "
              "print(type(b).__name__, b.mean(), b.statistics('max'), c['meta']['arr'].tolist(), c['meta']['seed'], "
              "c['meta']['big'].tolist(), c['meta']['flag'])")
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ['HistoryBuffer', str(4 / 3), '2.0', '[0,', '1,', '2]', '3', '[2.5]', 'True']
    loaded = load_local_checkpoint(path)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert type(buffer) is HistoryBuffer and buffer.statistics('mean') == pytest.approx(4 / 3)
    assert np.float64(0.1).dtype is np.dtype('f8'), 'loading must not change numpy\'s shared dtypes'


def test_importing_hrnet_mm_leaves_torchs_allowlist_as_torch_ships_it():
    # torch before 2.4 has no user allowlist: its fixed table of allowed globals is what must stay.
    script = ('import torch, mmengine.runner, mmseg, mmdet, mmpose, mmpretrain; '
              'from torch import _weights_only_unpickler as w; s = torch.serialization; '
              'listed = s.get_safe_globals if hasattr(s, "get_safe_globals") else w._get_allowed_globals; '
              'before = list(listed()); import hrnet_mm; '
              'after = list(listed()); print(before == after, len(after))')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == 'True', out


def test_a_scoped_allowlist_elsewhere_does_not_break_our_loads(tmp_path):
    """timm-style ``with safe_globals([...])`` blocks remove their entries on exit; ours are not there."""
    path = _genuine(tmp_path)
    with allowlisted([HistoryBuffer, np.dtype]):
        pass
    assert load_local_checkpoint(path)['meta']['seed'] == 3


# ------------------------------------------------------------------ numpy reconstruction gadgets
def _tuple(*items: bytes) -> bytes:
    return MARK + b''.join(items) + b't'


def _dtype(spec: str, flags: int = 0, elsize: int = -1) -> bytes:
    """numpy.dtype(spec, False, True) with the BUILD state a file chooses."""
    def i32(n: int) -> bytes:
        return b'J' + struct.pack('<i', n)

    state = _tuple(b'K\x03', _str('|'), b'N', b'N', b'N', i32(elsize), i32(-1), i32(flags))
    return _global('numpy', 'dtype') + _tuple(_str(spec), b'\x89', b'\x88') + REDUCE + state + BUILD


def _scalar(dtype: bytes, data: bytes) -> bytes:
    raw = _global('_codecs', 'encode') + _tuple(_str(data.decode('latin1')), _str('latin1')) + REDUCE
    return _global('numpy._core.multiarray', 'scalar') + _tuple(dtype, raw) + REDUCE


NUMPY_GADGETS = {
    # An object dtype whose flags are cleared: multiarray.scalar then reads 8 file bytes as a pointer.
    'object-scalar': _scalar(_dtype('O8', flags=0), b'\x41' * 8),
    'object-dtype': _dtype('O8', flags=63),
    'structured-dtype': _dtype('V8'),
    # A float dtype whose state asks for another item size.
    'float-elsize': _scalar(_dtype('f8', elsize=64), b'\x00' * 8),
    'short-scalar-data': _scalar(_dtype('f8'), b'\x00' * 2),
}


@pytest.mark.parametrize('name', sorted(NUMPY_GADGETS))
def test_numpy_gadgets_are_refused_without_touching_memory(tmp_path, name):
    path = as_torch_file(b'\x80\x02' + NUMPY_GADGETS[name] + STOP, tmp_path / f'{name}.pth')
    # In a child process: a crash (SIGSEGV) must show as a failure, not take the test run down.
    script = ('import hrnet_mm; from hrnet_mm.checkpoint import CheckpointError, load_local_checkpoint\n'
              f'try:\n    load_local_checkpoint({str(path)!r})\nexcept CheckpointError as err:\n    print(err)')
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'was refused' in done.stdout, done.stdout


def test_torch_alone_refuses_the_object_scalar_too(tmp_path):
    """The independent oracle: torch's weights-only loading, which hrnet_mm no longer widens."""
    path = as_torch_file(b'\x80\x02' + NUMPY_GADGETS['object-scalar'] + STOP, tmp_path / 'g.pth')
    script = (f'import torch, hrnet_mm\ntry:\n    torch.load({str(path)!r}, weights_only=True)\n'
              'except Exception as e:\n    print(type(e).__name__)')
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == 'UnpicklingError', (done.stdout, done.stderr[-2000:])


def test_a_crafted_history_buffer_state_is_a_checkpoint_error(tmp_path):
    """Lengths that disagree, a negative max_length, an object array: refused, no AssertionError."""
    states = [MARK + _str('max_length') + b'J' + struct.pack('<i', -5) + SETITEMS,
              MARK + _str('_log_history') + _str('not an array') + SETITEMS]
    for i, items in enumerate(states):
        body = _global(*HISTORY_BUFFER) + EMPTY_TUPLE + NEWOBJ + EMPTY_DICT + items + BUILD
        path = as_torch_file(b'\x80\x02' + body + STOP, tmp_path / f'hb{i}.pth')
        with pytest.raises(CheckpointError, match='was refused.*HistoryBuffer'):
            load_local_checkpoint(path)
