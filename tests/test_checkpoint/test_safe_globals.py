"""No code runs from a checkpoint: crafted pickles made of allowlisted names are refused everywhere."""
import io
import pickle
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from torch import nn

import hrnet_mm  # noqa: F401  (registers the safe globals and the checked local loader)
from hrnet_mm.checkpoint import CheckpointError, load_local_checkpoint

REPO = Path(__file__).resolve().parents[2]
SEG_DEMO = REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'


# ----------------------------------------------------------------- a tiny protocol-2 pickle assembler
def _global(module: str, name: str) -> bytes:
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def _str(text: str) -> bytes:
    data = text.encode()
    return b'X' + struct.pack('<I', len(data)) + data


def _put(n: int) -> bytes:
    return b'q' + bytes([n])


def _get(n: int) -> bytes:
    return b'h' + bytes([n])


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


def as_torch_file(pickle_bytes: bytes, path: Path) -> Path:
    """Wrap raw pickle bytes into torch's zip layout (the records torch.load expects)."""
    buffer = io.BytesIO()
    torch.save({}, buffer)
    buffer.seek(0)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = pickle_bytes if info.filename.endswith('/data.pkl') else src.read(info)
            dst.writestr(info.filename, data)
    return path


REFUSED_GETATTR = 'refusing getattr'
# name -> (builder, the reason our reconstructors give)
GADGETS = {
    'exec': (lambda marker: exec_gadget(marker), REFUSED_GETATTR),
    'exec-py2-name': (lambda marker: exec_gadget(marker, getattr_module='__builtin__'), REFUSED_GETATTR),
    'init-attr': (lambda marker: attribute_gadget('__init__'), REFUSED_GETATTR),
    'dunder-class': (lambda marker: attribute_gadget('__class__'), REFUSED_GETATTR),
    'statistics': (lambda marker: statistics_injection_gadget(), "statistics_methods['mean'] is not"),
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


def test_the_exec_gadget_is_live_where_getattr_is_allowlisted_process_wide(tmp_path):
    """What hrnet_mm used to do: without this, the refusals below could pass on a broken gadget."""
    marker = tmp_path / 'marker.txt'
    path = as_torch_file(exec_gadget(marker), tmp_path / 'gadget.pth')
    script = ('import torch; from mmengine.logging import HistoryBuffer; '
              'torch.serialization.add_safe_globals([getattr, HistoryBuffer]); '
              f'torch.load({str(path)!r}, weights_only=True)')
    subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
    assert marker.read_text() == 'code ran'


def test_torch_load_refuses_gadgets(gadget):
    path, reason = gadget
    with pytest.raises(pickle.UnpicklingError, match=re.escape(reason)):
        torch.load(path, weights_only=True)


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


def test_genuine_mmengine_checkpoint_loads_in_a_fresh_process(tmp_path):
    hub = MessageHub.get_instance('safe-globals-test')
    for value in (np.float64(0.5), 1.5, np.float32(2.0)):
        hub.update_scalar('train/loss', value)
    hub.update_info('iter', np.int64(7))
    checkpoint = {'meta': {'epoch': 1, 'seed': np.int64(3), 'arr': np.arange(3, dtype=np.int32),
                           'sigmas': np.array([0.1, 0.2])},
                  'message_hub': hub.state_dict(), 'state_dict': {'w': torch.ones(2)}}
    path = tmp_path / 'ckpt.pth'
    torch.save(checkpoint, path)
    # A fresh process: HistoryBuffer has not registered its statistics yet when the file is read.
    script = (f'import hrnet_mm, torch; c = torch.load({str(path)!r}, weights_only=True); '
              "b = c['message_hub']['log_scalars']['train/loss']; "
              "print(type(b).__name__, b.mean(), b.statistics('max'), c['meta']['arr'].tolist(), c['meta']['seed'])")
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ['HistoryBuffer', str(4 / 3), '2.0', '[0,', '1,', '2]', '3']
    loaded = load_local_checkpoint(path)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert type(buffer) is HistoryBuffer and buffer.statistics('mean') == pytest.approx(4 / 3)
