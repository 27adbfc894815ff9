"""Every way mmengine fetches a checkpoint ends in the same checked load: a payload never runs.

Files are served over http://127.0.0.1 by a server on a free port that each test starts and stops
(and, for downloads that go wrong, by raw sockets that stall or hang up); torch.hub's cache and
mmengine's home point into the test's temporary directory.
"""
import functools
import hashlib
import http.server
import json
import os
import socket
import threading
from pathlib import Path

import pytest
import torch
from mmengine.runner import checkpoint as mm_checkpoint
from mmengine.runner import load_checkpoint
from torch import nn

import hrnet_mm  # noqa: F401  (routes mmengine's loading through the checked loader)
from hrnet_mm.checkpoint import CheckpointError, checkpoint_loaders_installed, sources, uninstall_checkpoint_loaders
from hrnet_mm.checkpoint.sources import LOADERS, cache_path, download, install_checkpoint_loaders
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
def hub(tmp_path, monkeypatch):
    """torch.hub's folder and mmengine's home under ``tmp_path``; yields the checkpoint cache folder."""
    hub_dir = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    monkeypatch.setenv('MMENGINE_HOME', str(tmp_path / 'mmengine_home'))
    monkeypatch.delenv('HRNET_MM_DOWNLOAD_TIMEOUT', raising=False)
    yield tmp_path / 'hub' / 'checkpoints'
    torch.hub.set_dir(hub_dir)


@pytest.fixture()
def served(hub, tmp_path):
    """A server over ``tmp_path/www``, torch.hub's cache and mmengine's home under ``tmp_path``."""
    www = tmp_path / 'www'
    www.mkdir()
    with _Server(www) as server:
        yield server


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
    cached = Path(torch.hub.get_dir()) / 'checkpoints' / _key(served.url(name)) / name
    assert str(cached) == cache_path(served.url(name))
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


def _key(url: str) -> str:
    """The cache folder of ``url``: the first 16 hex digits of the sha256 of the whole URL."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _files_under(folder: Path) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob('*') if p.is_file()) if folder.exists() else []


def _finished(action, seconds: float = 60):
    """Run ``action`` in a thread; the exception it raised (None if none), asserting that it ended in time.

    A download without a timeout would hang the test run: the thread lets the test fail instead.
    """
    outcome = []

    def run():
        try:
            action()
        except BaseException as err:  # handed to the test, which checks its type
            outcome.append(err)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f'the load still runs after {seconds} s: the download has no timeout'
    return outcome[0]


class _RawServer:
    """A TCP server on a free port that answers every request with ``reply``, then stalls or hangs up.

    Args:
        reply (bytes): What is sent once the request's headers are in.
        then (str): ``'stall'``: keep the connection open and send nothing more (until the test
            ends); ``'close'``: close the connection.
    """

    def __init__(self, reply: bytes, then: str):
        self.reply, self.then = reply, then
        self.done = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(('127.0.0.1', 0))
        self._sock.listen(8)
        self._sock.settimeout(0.2)  # accept() wakes up to see the end of the test
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, name: str) -> str:
        return f'http://127.0.0.1:{self._sock.getsockname()[1]}/{name}'

    def _serve(self):
        while not self.done.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            conn.settimeout(30)
            request = b''
            while b'\r\n\r\n' not in request:
                data = conn.recv(4096)
                if not data:
                    return
                request += data
            conn.sendall(self.reply)
            if self.then == 'stall':
                self.done.wait()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self._thread.join(timeout=10)
        self._sock.close()


_HEADERS_AND_A_FEW_BYTES = b'HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\nPK\x03\x04abcdef'


def test_a_server_that_never_answers_times_out(hub, monkeypatch):
    # Listening, never accepting: the kernel completes the connection, then nothing is ever sent.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(('127.0.0.1', 0))
        silent.listen(8)
        url = f'http://127.0.0.1:{silent.getsockname()[1]}/model.pth'
        monkeypatch.setenv('HRNET_MM_DOWNLOAD_TIMEOUT', '1')
        err = _finished(lambda: load_checkpoint(nn.Linear(1, 1), url, map_location='cpu'))
    assert isinstance(err, CheckpointError), repr(err)
    assert str(err).startswith(f'cannot download {url}: timed out after 1 s'), str(err)
    assert 'HRNET_MM_DOWNLOAD_TIMEOUT' in str(err) and '\n' not in str(err)
    assert _files_under(hub) == []


def test_a_server_that_stalls_mid_body_times_out_and_leaves_nothing(hub, monkeypatch):
    monkeypatch.setenv('HRNET_MM_DOWNLOAD_TIMEOUT', '1')
    with _RawServer(_HEADERS_AND_A_FEW_BYTES, then='stall') as server:
        url = server.url('model.pth')
        err = _finished(lambda: load_checkpoint(nn.Linear(1, 1), url, map_location='cpu'))
    assert isinstance(err, CheckpointError), repr(err)
    assert str(err).startswith(f'cannot download {url}: timed out after 1 s'), str(err)
    assert _files_under(hub) == [], 'a stalled download left a file behind'


@pytest.mark.parametrize('reply, error', [
    (_HEADERS_AND_A_FEW_BYTES, 'IncompleteRead: the connection closed after 10 of 100000 bytes'),
    (b'HTTP/1.0 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!', 'HTTPError: HTTP Error 500'),
], ids=['closed-mid-body', 'http-500'])
def test_a_failed_download_leaves_nothing_under_the_cached_name(hub, reply, error):
    with _RawServer(reply, then='close') as server:
        url = server.url('model.pth')
        err = _finished(lambda: load_checkpoint(nn.Linear(1, 1), url, map_location='cpu'))
    assert isinstance(err, CheckpointError), repr(err)
    assert str(err).startswith(f'cannot download {url}: {error}'), str(err)
    assert not Path(cache_path(url)).exists() and _files_under(hub) == []


@pytest.mark.parametrize('interruption', [OSError(28, 'No space left on device'), KeyboardInterrupt()],
                         ids=['disk-full', 'ctrl-c'])
def test_an_interrupted_write_removes_the_temporary_file(served, monkeypatch, interruption):
    name = _published(served)
    seen = []

    def fsync(fd):
        seen.append(_files_under(Path(cache_path(served.url(name))).parent))
        raise interruption

    monkeypatch.setattr(sources.os, 'fsync', fsync)
    expected = CheckpointError if isinstance(interruption, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as caught:
        download(served.url(name))
    # While it was written, the file had a unique temporary name next to the cached one.
    assert len(seen) == 1 and len(seen[0]) == 1 and seen[0][0].startswith(name + '.'), seen
    assert seen[0][0].endswith('.partial') and seen[0][0] != name + '.partial'
    if expected is CheckpointError:
        assert str(caught.value) == (f'cannot download {served.url(name)}: OSError: [Errno 28] No space left '
                                     'on device')
    assert _files_under(Path(torch.hub.get_dir())) == []


def test_two_urls_with_the_same_file_name_are_cached_apart(served):
    for version, value in (('v1', 1.0), ('v2', 2.0)):
        (served.root / version).mkdir()
        torch.save({'state_dict': {'weight': torch.full((1, 1), value), 'bias': torch.full((1,), value)}},
                   served.root / version / 'model.pth')
    for _ in range(2):  # the second round comes from the cache
        for version, value in (('v1', 1.0), ('v2', 2.0)):
            model = nn.Linear(1, 1)
            load_checkpoint(model, served.url(f'{version}/model.pth'), map_location='cpu')
            assert model.weight.item() == value and model.bias.item() == value, version
    assert served.requests == ['/v1/model.pth', '/v2/model.pth']
    keys = [_key(served.url(f'{version}/model.pth')) for version in ('v1', 'v2')]
    assert _files_under(Path(torch.hub.get_dir()) / 'checkpoints') == [f'{key}/model.pth' for key in sorted(keys)]


@pytest.mark.parametrize('value', ['abc', '-1', '0', 'nan', '1e300'])
def test_a_bad_download_timeout_is_a_one_line_error(served, monkeypatch, value):
    name = _published(served)
    monkeypatch.setenv('HRNET_MM_DOWNLOAD_TIMEOUT', value)
    with pytest.raises(CheckpointError, match=f"^HRNET_MM_DOWNLOAD_TIMEOUT='{value}' is not a download timeout"
                       ) as caught:
        load_checkpoint(nn.Linear(1, 1), served.url(name), map_location='cpu')
    assert '\n' not in str(caught.value)
    monkeypatch.setenv('HRNET_MM_DOWNLOAD_TIMEOUT', ' 2.5 ')
    load_checkpoint(nn.Linear(1, 1), served.url(name), map_location='cpu')


def test_only_large_downloads_report_progress(served, monkeypatch):
    lines = []
    monkeypatch.setattr(sources, 'print_log', lambda message, **kwargs: lines.append(message))
    (served.root / 'small.bin').write_bytes(os.urandom(1000))
    download(served.url('small.bin'))
    assert lines == []
    (served.root / 'large.bin').write_bytes(bytes(20 << 20))  # read in 1 MB steps: 5% each
    url = served.url('large.bin')
    download(url)
    assert lines[0] == f'downloading {url} (20.0 MB) to {cache_path(url)}'
    assert lines[1:] == [f'downloading {url}: {percent}% of 20.0 MB' for percent in range(10, 101, 10)]


def test_a_large_download_of_unknown_size_reports_progress(hub, monkeypatch):
    lines = []
    monkeypatch.setattr(sources, 'print_log', lambda message, **kwargs: lines.append(message))
    # HTTP/1.0 without Content-Length: the body ends when the connection closes.
    size = 3 * sources.LARGE_DOWNLOAD
    with _RawServer(b'HTTP/1.0 200 OK\r\n\r\n' + bytes(size), then='close') as server:
        url = server.url('large.bin')
        assert download(url) == cache_path(url)
    assert Path(cache_path(url)).stat().st_size == size
    assert lines[0] == f'downloading {url} (size not given) to {cache_path(url)}'
    assert lines[-1] == f'downloaded {url}: 24.0 MB' and any(line.endswith('MB so far') for line in lines)
    assert len(lines) <= 5, lines


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


@pytest.mark.parametrize('activation', [
    'import torch, hrnet_mm',  # torch first, as in every tool: hrnet_mm activates at import
    'import hrnet_mm; from mmseg.registry import MODELS; MODELS.get("hrnet_mm.HRNet")',  # at the first lookup
    'import hrnet_mm; hrnet_mm.activate()',
])
def test_the_environment_switch_is_read_when_hrnet_mm_activates(activation):
    import subprocess
    import sys
    script = (f'{activation}; from mmengine.runner import checkpoint as c; '
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
