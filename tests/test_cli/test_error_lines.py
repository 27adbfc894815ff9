"""The one place where hrnet-mm's errors meet the user (``hrnet_mm.cli.main``): every exception a
command raises ends as one line on stderr and exit status 2, unless --debug asks for the traceback."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from hrnet_mm.cli import DEBUG_HINT, complexity, main
from hrnet_mm.environment import LOGGED
from hrnet_mm.errors import ConfigError, SetupError
from hrnet_mm.testing.cli import one_line_cli_error

REPO = Path(__file__).resolve().parents[2]
SEG = 'hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'


@pytest.fixture(autouse=True)
def _no_debug_from_the_environment(monkeypatch):
    monkeypatch.delenv('HRNET_MM_DEBUG', raising=False)


def _failing_command(monkeypatch, err: BaseException) -> None:
    """Make ``hrnet-mm complexity`` raise ``err`` (the parser binds each command's ``run`` when it is built)."""
    def run(args):
        raise err
    monkeypatch.setattr(complexity, 'run', run)


def test_an_unexpected_exception_is_one_line_with_its_type_and_a_hint(monkeypatch, capsys):
    _failing_command(monkeypatch, RuntimeError('the engine said no\n  at frame 1\n  at frame 2'))
    err = one_line_cli_error(['complexity', 'w18'], capsys)
    assert err == f'hrnet-mm complexity: RuntimeError: the engine said no {DEBUG_HINT}'


def test_an_exception_without_a_message_is_named_by_its_type(monkeypatch, capsys):
    _failing_command(monkeypatch, MemoryError())
    assert one_line_cli_error(['complexity', 'w18'], capsys) == f'hrnet-mm complexity: MemoryError {DEBUG_HINT}'


@pytest.mark.parametrize('err', [ConfigError('bad value: ' + 'x' * 5000), IndexError('{' + "'a': 1, " * 2000)],
                         ids=['usage-error', 'unexpected'])
def test_a_huge_message_is_cut_to_one_short_line(monkeypatch, capsys, err):
    _failing_command(monkeypatch, err)
    line = one_line_cli_error(['complexity', 'w18'], capsys)
    assert len(line) < 400 and '...' in line
    assert line.startswith('hrnet-mm complexity: bad value: xxx' if isinstance(err, ConfigError)
                           else "hrnet-mm complexity: IndexError: {'a': 1")


def test_a_usage_error_keeps_its_plain_format(monkeypatch, capsys):
    _failing_command(monkeypatch, ConfigError('arch must be one of w18, w32\nsecond line'))
    assert one_line_cli_error(['complexity', 'w18'], capsys) == 'hrnet-mm complexity: arch must be one of w18, w32'


def test_a_stack_problem_logged_at_import_is_not_said_twice(monkeypatch, capsys):
    line = 'hrnet_mm: something pip cannot pin; fix: pip install it'
    monkeypatch.setattr('hrnet_mm.environment.LOGGED', LOGGED | {line})
    _failing_command(monkeypatch, SetupError(line))
    assert main(['complexity', 'w18']) == 2
    assert capsys.readouterr().err == ''


def test_ctrl_c_is_one_line_and_status_130(monkeypatch, capsys):
    _failing_command(monkeypatch, KeyboardInterrupt())
    assert main(['complexity', 'w18']) == 130
    assert capsys.readouterr().err.strip() == 'hrnet-mm complexity: interrupted'


@pytest.mark.parametrize('how', ['flag', 'environment'])
def test_debug_lets_the_exception_through(monkeypatch, how):
    _failing_command(monkeypatch, RuntimeError('the engine said no'))
    argv = ['complexity', 'w18']
    if how == 'flag':
        argv = ['--debug', *argv]
    else:
        monkeypatch.setenv('HRNET_MM_DEBUG', '1')
    with pytest.raises(RuntimeError, match='the engine said no'):
        main(argv)
    _failing_command(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        main(argv)


def test_debug_zero_in_the_environment_means_off(monkeypatch, capsys):
    monkeypatch.setenv('HRNET_MM_DEBUG', '0')
    _failing_command(monkeypatch, RuntimeError('the engine said no'))
    assert 'RuntimeError: the engine said no' in one_line_cli_error(['complexity', 'w18'], capsys)


def _hrnet_mm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != 'HRNET_MM_DEBUG'}
    env['PYTHONPATH'] = os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, '-m', 'hrnet_mm.cli', *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


def test_a_garbage_onnx_file_is_one_line_in_a_real_process_and_a_traceback_with_debug(tmp_path):
    # A separate process: what the engines write to the stderr file descriptor themselves counts too
    # (OpenVINO, asked to guess the format, lets its TensorFlow reader print parse errors there).
    (tmp_path / 'bad.onnx').write_bytes(np.random.default_rng(0).bytes(4096))
    cv2.imwrite(str(tmp_path / 'a.png'), np.full((8, 8, 3), 128, np.uint8))
    args = ['infer', SEG, 'bad.onnx', 'a.png', '--engine', 'openvino', '--out-dir', 'out']
    proc = _hrnet_mm(*args, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith('hrnet-mm infer: bad.onnx: cannot be opened by openvino: ')
    assert 'Traceback' not in proc.stderr
    proc = _hrnet_mm('--debug', *args, cwd=tmp_path)
    assert proc.returncode == 1 and 'Traceback (most recent call last)' in proc.stderr
    assert 'InputError: bad.onnx: cannot be opened by openvino' in proc.stderr


def test_the_debug_flag_and_variable_are_documented(capsys):
    with pytest.raises(SystemExit):
        main(['--help'])
    text = capsys.readouterr().out
    assert '--debug' in text and 'HRNET_MM_DEBUG=1' in text


def test_debug_also_works_after_the_command(monkeypatch):
    _failing_command(monkeypatch, RuntimeError('the engine said no'))
    with pytest.raises(RuntimeError, match='the engine said no'):
        main(['complexity', 'w18', '--debug'])
