"""Every way mmengine fetches a checkpoint ends in the same checked load: a payload never runs.

Files are served over http://127.0.0.1 by a server on a free port that each test module starts and
stops; torch.hub's cache and mmengine's home point into the test's temporary directory.
"""
import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
import torch
from mmengine.runner import checkpoint as mm_checkpoint
from mmengine.runner import load_checkpoint
from torch import nn

import hrnet_mm  # noqa: F401  (routes mmengine's loading through the checked loader)
from hrnet_mm.checkpoint import CheckpointError, checkpoint_loaders_installed, uninstall_checkpoint_loaders
from hrnet_mm.checkpoint.sources import LOADERS, install_checkpoint_loaders
from hrnet_mm.models import HRNet


class _OpensAFile:
    """Unpickling this calls ``open(path, 'w')``: the marker file appears if a load runs code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, 'w'))


class _Server:
    def __init__(self, root: Path):
        self.root, self.requests = root, []
        handler = functools.partial(self._Handler, directory=str(root))
        handler.log_message = lambda *args: None
        self._httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)  # port 0: a free port
        self._httpd.requests = self.requests
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    class _Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            self.server.requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    def url(self, name: str) -> str:
        return f'http://127.0.0.1:{self._httpd.server_address[1]}/{name}'

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


@pytest.fixture()
def served(tmp_path, monkeypatch):
    """A server over ``tmp_path/www``, torch.hub's cache and mmengine's home under ``tmp_path``."""
    www = tmp_path / 'www'
    www.mkdir()
    hub_dir = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    monkeypatch.setenv('MMENGINE_HOME', str(tmp_path / 'mmengine_home'))
    with _Server(www) as server:
        yield server
    torch.hub.set_dir(hub_dir)


@pytest.fixture()
def payload(served, tmp_path):
    """(url, marker): a checkpoint whose unpickling would create ``marker``."""
    marker = tmp_path / 'marker.txt'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'hook': _OpensAFile(marker)}, served.root / 'evil.pth')
    yield served.url('evil.pth'), marker
    assert not marker.exists(), 'loading the checkpoint ran code'


def _mmengine_home(tmp_path) -> Path:
    home = tmp_path / 'mmengine_home'
    home.mkdir(exist_ok=True)
    return home


def _name_scheme(scheme, url, tmp_path, monkeypatch) -> str:
    """A model name under ``scheme`` that mmengine's tables resolve to ``url``."""
    if scheme in ('open-mmlab://', 'openmmlab://'):
        # mmengine merges <MMENGINE_HOME>/open_mmlab.json into its table: users name their own models.
        (_mmengine_home(tmp_path) / 'open_mmlab.json').write_text(json.dumps({'test/model': url}))
    elif scheme == 'torchvision://':
        monkeypatch.setattr(mm_checkpoint, 'get_torchvision_models', lambda: {'test_model': url})
    else:
        monkeypatch.setattr(mm_checkpoint, 'get_mmcls_models', lambda: {'test_model': url})
    return scheme + ('test/model' if 'mmlab' in scheme else 'test_model')


PATHS = ['load_checkpoint', 'init_cfg', 'load_from']


def _load_through(path: str, source: str, tmp_path) -> None:
    if path == 'load_checkpoint':
        load_checkpoint(nn.Linear(1, 1), source, map_location='cpu')
    elif path == 'init_cfg':
        HRNet(arch='w18-small-v1', init_cfg=dict(type='Pretrained', checkpoint=source)).init_weights()
    else:
        from mmengine.registry import DefaultScope
        from mmengine.runner import Runner
        with DefaultScope.overwrite_default_scope('mmengine'):
            runner = Runner(model=nn.Linear(1, 1), work_dir=str(tmp_path / 'work'), load_from=source,
                            default_scope='mmengine', experiment_name=f'load-from-{tmp_path.name}')
            runner.load_or_resume()


@pytest.mark.parametrize('path', PATHS)
def test_a_payload_over_http_is_refused(payload, tmp_path, path):
    url, _ = payload
    with pytest.raises(CheckpointError, match='was refused'):
        _load_through(path, url, tmp_path)


@pytest.mark.parametrize('scheme', ['open-mmlab://', 'openmmlab://', 'torchvision://', 'mmcls://'])
def test_a_payload_behind_a_model_name_is_refused(payload, tmp_path, monkeypatch, scheme):
    url, _ = payload
    with pytest.raises(CheckpointError, match='was refused'):
        load_checkpoint(nn.Linear(1, 1), _name_scheme(scheme, url, tmp_path, monkeypatch), map_location='cpu')


def test_an_open_mmlab_name_of_a_local_file_is_checked(tmp_path, monkeypatch):
    marker = tmp_path / 'marker.txt'
    home = _mmengine_home(tmp_path)
    monkeypatch.setenv('MMENGINE_HOME', str(home))
    torch.save({'state_dict': {'w': torch.ones(1)}, 'hook': _OpensAFile(marker)}, home / 'evil.pth')
    (home / 'open_mmlab.json').write_text(json.dumps({'local/model': 'evil.pth'}))
    with pytest.raises(CheckpointError, match='was refused'):
        load_checkpoint(nn.Linear(1, 1), 'open-mmlab://local/model', map_location='cpu')
    assert not marker.exists()


def _published(served, name='weights') -> str:
    """A genuine checkpoint on the server under an OpenMMLab name: ``<name>-<sha256[:8]>.pth``."""
    tmp = served.root / 'tmp.pth'
    torch.save({'state_dict': nn.Linear(1, 1).state_dict()}, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    target = served.root / f'{name}-{digest}.pth'
    tmp.rename(target)
    return target.name


def test_a_genuine_file_over_http_loads_once_cached_and_hash_checked(served):
    name = _published(served)
    model = nn.Linear(1, 1)
    load_checkpoint(model, served.url(name), map_location='cpu')
    load_checkpoint(model, served.url(name), map_location='cpu')
    assert served.requests == [f'/{name}'], 'the second load must come from torch.hub\'s cache'
    cached = Path(torch.hub.get_dir()) / 'checkpoints' / name
    expected = torch.load(served.root / name, weights_only=True)['state_dict']['weight']
    assert torch.equal(model.weight.detach(), expected) and cached.is_file()
    # The cached copy damaged afterwards: its hash no longer matches its name.
    data = bytearray(cached.read_bytes())
    data[-1] ^= 0xFF
    cached.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match='sha256 starts with.*delete .* to download it again'):
        load_checkpoint(model, served.url(name), map_location='cpu')


def test_a_file_served_under_a_wrong_hash_is_refused(served):
    name = _published(served)
    wrong = name.replace(name[-12:-4], 'deadbeef')
    (served.root / name).rename(served.root / wrong)
    with pytest.raises(CheckpointError, match='is damaged: its sha256 starts with'):
        load_checkpoint(nn.Linear(1, 1), served.url(wrong), map_location='cpu')


def test_an_unreachable_url_and_an_unknown_name_are_one_line_errors(served, tmp_path, monkeypatch):
    with pytest.raises(CheckpointError, match='cannot download .*HTTPError'):
        load_checkpoint(nn.Linear(1, 1), served.url('missing.pth'), map_location='cpu')
    monkeypatch.setattr(mm_checkpoint, 'get_torchvision_models', lambda: {})
    with pytest.raises(CheckpointError, match='torchvision://nope is not a known model name'):
        load_checkpoint(nn.Linear(1, 1), 'torchvision://nope', map_location='cpu')


def test_pavi_is_refused_in_one_line():
    with pytest.raises(CheckpointError, match='pavi:// checkpoints cannot be loaded safely'):
        load_checkpoint(nn.Linear(1, 1), 'pavi://some/model')


def test_the_switch_gives_mmengine_its_loaders_back():
    assert checkpoint_loaders_installed()
    uninstall_checkpoint_loaders()
    try:
        schemes = mm_checkpoint.CheckpointLoader._schemes
        assert schemes[''] is mm_checkpoint.load_from_local and schemes['http://'] is mm_checkpoint.load_from_http
        assert not any(schemes[p] is loader for p, loader in LOADERS.items())
    finally:
        install_checkpoint_loaders()
    assert checkpoint_loaders_installed()


def test_the_environment_switch_is_read_at_import():
    import subprocess
    import sys
    script = ('import hrnet_mm; from mmengine.runner import checkpoint as c; '
              'print(c.CheckpointLoader._schemes[""] is c.load_from_local)')
    for value, stock in (('0', 'True'), ('1', 'False')):
        done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, check=True,
                              env={**__import__('os').environ, 'HRNET_MM_SAFE_LOADING': value})
        assert done.stdout.strip() == stock, (value, done.stdout, done.stderr[-1000:])


def test_a_payload_from_a_storage_backend_is_refused(tmp_path, monkeypatch):
    """s3:// goes through mmengine's file backend (petrel); a stand-in backend serves the bytes here."""
    from mmengine.fileio import io as mm_io
    from mmengine.fileio.backends import BaseStorageBackend, registry_utils
    marker = tmp_path / 'marker.txt'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'hook': _OpensAFile(marker)}, evil)

    class Bucket(BaseStorageBackend):
        def __init__(self, **kwargs):
            pass

        def get(self, filepath):
            return evil.read_bytes()

        def get_text(self, filepath, encoding='utf-8'):
            raise NotImplementedError

    monkeypatch.setitem(registry_utils.backends, 'petrel', Bucket)
    monkeypatch.setattr(mm_io, 'backend_instances', {})
    with pytest.raises(CheckpointError, match='s3://bucket/evil.pth was refused'):
        load_checkpoint(nn.Linear(1, 1), 's3://bucket/evil.pth', map_location='cpu')
    assert not marker.exists()
