"""tools/gpu_check.sh on CPU: the plan it prints, what it refuses, what it leaves in OUT."""
import importlib.util
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools' / 'gpu_check.sh'
PARTS = ['env', 'cuda', 'ddp', 'demo', 'bench']
EIGHT_MINUTES = 480


def run_script(*args, work=None, cuda_visible=None):
    env = dict(os.environ, PY=sys.executable)
    if work is not None:
        env['GPU_CHECK_WORK'] = str(work)
    if cuda_visible is not None:
        env['CUDA_VISIBLE_DEVICES'] = cuda_visible
    return subprocess.run(['bash', str(SCRIPT), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('dry') / 'out'
    proc = run_script('--dry-run', str(out))
    return proc, out


def _commands(stdout: str):
    return [line.strip()[2:] for line in stdout.splitlines() if line.strip().startswith('$ ')] + \
           [line.split(': ', 1)[1] for line in stdout.splitlines() if line.strip().startswith('== ')]


def test_dry_run_lists_every_part_with_a_timeout_that_fits_in_eight_minutes(dry_run):
    proc, out = dry_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    timeouts = {}
    for line in proc.stdout.splitlines():
        match = re.match(r'^(\w+) +(\d+)  \S', line)
        if match:
            timeouts[match[1]] = int(match[2])
    assert list(timeouts) == PARTS
    # env first, then cuda, ddp and demo side by side, then bench alone; packing takes seconds.
    worst = timeouts['env'] + max(timeouts['cuda'], timeouts['ddp'], timeouts['demo']) + timeouts['bench']
    assert worst <= EIGHT_MINUTES - 15, timeouts
    assert 'cuda, ddp and demo run side by side' in proc.stdout
    assert not out.exists()  # a dry run writes nothing


def test_dry_run_names_only_configs_and_files_that_exist(dry_run):
    proc, _ = dry_run
    words = [w.strip("'\"") for command in _commands(proc.stdout) for w in command.split()]
    paths = [w.split('=', 1)[-1] for w in words]
    configs = [p for p in paths if p.endswith('.py') and ('configs/' in p or '::' in p)]
    assert len(configs) >= 10  # the demo config and every benchmark comparison's configs
    for config in configs:
        if '::' in config:  # installed with the library: <package>/.mim/configs/<path>
            package, _, relative = config.partition('::')
            origin = Path(importlib.util.find_spec(package).origin)
            assert (origin.parent / '.mim' / 'configs' / relative).is_file(), config
        else:
            assert (REPO / config).is_file(), config
    files = {p.split('::')[0] for p in paths if p.startswith(('tools/', 'tests/'))}
    assert {'tools/gpu_ddp_check.py', 'tools/demo.py', 'tools/gpu_benchmarks.sh',
            'tests/test_models/test_backbones/test_cuda_graph.py'} <= files
    for path in files:
        assert (REPO / path).exists(), path
    assert any('torch.distributed.run' in c and '--nproc_per_node=1' in c for c in _commands(proc.stdout))


def test_every_test_that_runs_on_a_gpu_is_in_the_cuda_part(dry_run):
    """The files with `cuda` tests, and those whose runners or benchmarks pick CUDA by themselves, unless
    they pin their processes to CPU."""
    proc, _ = dry_run
    pytest_commands = [c for c in _commands(proc.stdout) if '-m pytest' in c]
    assert len(pytest_commands) == 2 and "-m cuda" in pytest_commands[0] and "'not cuda'" in pytest_commands[1]
    listed = {w for w in pytest_commands[0].split() if w.startswith('tests/')}
    assert listed == {w for w in pytest_commands[1].split() if w.startswith('tests/') and '::' not in w}
    for path in sorted((REPO / 'tests').rglob('test_*.py')):
        if path == Path(__file__).resolve():  # this file names the patterns it looks for
            continue
        text = path.read_text()
        relative = str(path.relative_to(REPO))
        if 'mark.cuda' in text:
            assert relative in listed, relative
        starts_a_runner = re.search(r"Runner\.from_cfg\(|Runner\(model=|'hrnet_mm\.cli', 'train'|tool_path\(", text)
        # release runs (the wheel, deploy accuracy) are CPU products checked by make test-release
        if starts_a_runner and "CUDA_VISIBLE_DEVICES=''" not in text and 'mark.release' not in text:
            assert relative in listed, relative


def test_an_unknown_part_or_timeout_is_refused_in_one_line(tmp_path):
    for args in (['--dry-run', str(tmp_path / 'out'), 'cuda', 'gpu'], [str(tmp_path / 'out'), 'gpu']):
        proc = run_script(*args)
        assert proc.returncode == 2 and proc.stdout == ''
        assert proc.stderr.strip() == "gpu_check: unknown part 'gpu'; the parts are: env cuda ddp demo bench"
    proc = run_script('--timeout', 'cuda=soon', str(tmp_path / 'out'))
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("gpu_check: --timeout takes PART=SECONDS with PART one of env cuda ddp demo bench, "
                                   "got 'cuda=soon'")
    assert not (tmp_path / 'out').exists()


def test_without_a_gpu_the_run_stops_after_env_and_leaves_two_files(tmp_path):
    out, work = tmp_path / 'out', tmp_path / 'work'
    proc = run_script(str(out), 'cuda', 'bench', work=work, cuda_visible='')
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ['logs.tgz', 'summary.txt']
    summary = (out / 'summary.txt').read_text()
    assert re.search(r'^env +FAILED \(exit 1\)', summary, re.M)
    assert re.search(r'^cuda +not run: env failed', summary, re.M)
    assert re.search(r'^bench +not run: env failed', summary, re.M)
    assert 'no CUDA device' in summary and 'ddp' not in summary.split('\n== ')[0]  # only the chosen parts
    with tarfile.open(out / 'logs.tgz') as archive:
        names = archive.getnames()
    assert './env/part.log' in names and './summary.txt' in names


def test_the_script_writes_at_most_six_files_into_out():
    """By construction: every part writes under its work folder; OUT gets named files only, at most six."""
    text = SCRIPT.read_text()
    written = set(re.findall(r'\$OUT/([\w.-]+)', text))
    assert written == {'summary.txt', 'logs.tgz'}
    # "$OUT" alone is only created, resolved or entered; nothing is copied or extracted into it.
    code = [line.strip() for line in text.splitlines() if not line.lstrip().startswith('#')]
    bare = [line for line in code if re.search(r'\$OUT(?!/)', line)]
    assert bare
    for line in bare:
        assert re.match(r'(\[\[ \$OUT|mkdir -p "\$OUT"|OUT=\$\(cd "\$OUT")', line), line
