"""hrnet_mm.rebuild: the patches to mmcv's and xtcocotools' setup.py, the mmcv wheel cache and the command's lines.

The real build (minutes of C++) is not run here; docs/install.md records its measured time.
"""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hrnet_mm import rebuild
from hrnet_mm.rebuild import RebuildError, Target, patch_mmcv_setup, patch_version_read

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / 'hrnet_mm' / 'rebuild.py'

# The shape of xtcocotools 1.14.3's get_version (mmcv 2.1.0's is the same without the short version).
SETUP = textwrap.dedent("""\
    version_file = 'pkg/version.py'


    def get_version():
        with open(version_file, 'r') as f:
            exec(compile(f.read(), version_file, 'exec'))
        import sys
        if 'sdist' in sys.argv:
            return locals()['short_version']
        else:
            return locals()['__version__']


    print(get_version())
""")

# The lines of mmcv 2.1.0's setup.py that the patches touch, in its shapes (Linux and Windows flags,
# the parrots and pytorch branches, the nvcc flags); runnable, printing the version and the flags.
MMCV_SETUP = textwrap.dedent("""\
    import platform

    OLD_TORCH = False


    def get_version():
        version_file = 'mmcv/version.py'
        with open(version_file, encoding='utf-8') as f:
            exec(compile(f.read(), version_file, 'exec'))
        return locals()['__version__']


    def get_flags():
        parrots = {'nvcc': ['-std=c++14'], 'cxx': ['-std=c++14']}
        extra_compile_args = {'cxx': []}
        if platform.system() != 'Windows':
            if OLD_TORCH:
                extra_compile_args['cxx'] = ['-std=c++14']
            else:
                extra_compile_args['cxx'] = ['-std=c++17']
        else:
            if OLD_TORCH:
                extra_compile_args['cxx'] = ['/std:c++14']
            else:
                extra_compile_args['cxx'] = ['/std:c++17']
        mps = ['-Wall', '-std=c++17']
        # Since the PR uses c++14 features, the argument ['std=c++14'] must be added here.
        extra_compile_args['nvcc'] = ['-std=c++14'] if OLD_TORCH else ['-std=c++17']
        return parrots, extra_compile_args, mps


    print(get_version())
    print(get_flags())
""")


def _version(tree: Path, python: str = sys.executable) -> subprocess.CompletedProcess:
    # setuptools runs a setup.py with exec(code, locals()) inside a function, as here
    runner = "def run():\n    exec(compile(open('setup.py').read(), 'setup.py', 'exec'), locals())\nrun()\n"
    return subprocess.run([python, '-c', runner], cwd=tree, capture_output=True, text=True)


def _one_line_error(text: str, *words: str) -> None:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in text, text
    assert all(word in lines[0] for word in words), lines[0]


# --- The version read (xtcocotools and mmcv) ---

def test_the_patched_setup_reads_its_version(tmp_path):
    (tmp_path / 'pkg').mkdir()
    (tmp_path / 'pkg' / 'version.py').write_text("__version__ = '1.14.3'\nshort_version = '1.14'\n")
    setup = tmp_path / 'setup.py'
    setup.write_text(SETUP)
    assert patch_version_read(setup) is True
    text = setup.read_text()
    assert 'locals()' not in text and text.count('version_ns[') == 2
    proc = _version(tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == '1.14.3', proc.stderr
    assert patch_version_read(setup) is False  # once only


def test_unpatched_setup_fails_on_python_3_13_and_patched_works(tmp_path):
    """Where this interpreter is 3.13+, the original really fails (the reason for the patch)."""
    (tmp_path / 'pkg').mkdir()
    (tmp_path / 'pkg' / 'version.py').write_text("__version__ = '2.1.0'\nshort_version = '2.1'\n")
    (tmp_path / 'setup.py').write_text(SETUP)
    before = _version(tmp_path)
    if sys.version_info >= (3, 13):
        assert before.returncode != 0 and "KeyError: '__version__'" in before.stderr
    else:
        assert before.returncode == 0 and before.stdout.strip() == '2.1.0'
    patch_version_read(tmp_path / 'setup.py')
    after = _version(tmp_path)
    assert after.returncode == 0 and after.stdout.strip() == '2.1.0', after.stderr


# --- mmcv's setup.py ---

def test_mmcv_patch_asks_for_cxx20_everywhere_and_reads_the_version(tmp_path):
    (tmp_path / 'mmcv').mkdir()
    (tmp_path / 'mmcv' / 'version.py').write_text("__version__ = '2.1.0'\n")
    setup = tmp_path / 'setup.py'
    setup.write_text(MMCV_SETUP)
    patch_mmcv_setup(setup)
    text = setup.read_text()
    assert not re.search(r'c\+\+1[47]', text) and 'locals()' not in text
    assert text.count('-std=c++20') == 7 and text.count('/std:c++20') == 2
    proc = _version(tmp_path)
    assert proc.returncode == 0, proc.stderr
    version, flags = proc.stdout.strip().splitlines()
    assert version == '2.1.0'
    assert flags == ("({'nvcc': ['-std=c++20'], 'cxx': ['-std=c++20']}, {'cxx': ['-std=c++20'], "
                     "'nvcc': ['-std=c++20']}, ['-Wall', '-std=c++20'])")


def test_a_setup_py_that_is_not_the_expected_one_is_refused_in_one_line(tmp_path):
    setup = tmp_path / 'setup.py'
    setup.write_text(MMCV_SETUP)
    patch_mmcv_setup(setup)
    with pytest.raises(RebuildError) as twice:  # nothing left to raise to C++20
        patch_mmcv_setup(setup)
    _one_line_error(str(twice.value), 'not mmcv 2.1.0', "'-std=c++17'")
    setup.write_text(MMCV_SETUP.replace("return locals()['__version__']", "return '2.1.0'"))
    with pytest.raises(RebuildError) as other_read:
        patch_mmcv_setup(setup)
    _one_line_error(str(other_read.value), 'not mmcv 2.1.0', 'version read')


# --- The cache key and folder ---

@pytest.mark.parametrize('python, torch_version, cuda, folder', [
    ((3, 11), '2.14.1', None, 'mmcv-2.1.0-cp311-torch2.14.1-cpu'),
    ((3, 11), '2.14.1+cu130', None, 'mmcv-2.1.0-cp311-torch2.14.1-cpu'),  # a CUDA torch, CPU ops
    ((3, 13), '2.14.1+cu130', '13.0', 'mmcv-2.1.0-cp313-torch2.14.1-cuda13.0'),
    ((3, 12), '2.5.0+cu124', '12.4', 'mmcv-2.1.0-cp312-torch2.5.0-cuda12.4'),
])
def test_the_cache_folder_is_keyed_by_python_torch_and_cuda(python, torch_version, cuda, folder):
    target = Target.of(python, torch_version, cuda)
    assert target.folder == folder
    assert target.describe() == f'mmcv 2.1.0 with ops for torch {torch_version.split("+")[0]} ({folder.split("-")[-1]})'


def test_the_cache_root_is_the_one_setup_env_used(tmp_path):
    assert rebuild.cache_root({'HRNET_MM_CACHE': '/c', 'XDG_CACHE_HOME': '/x', 'HOME': '/h'}) == Path('/c')
    assert rebuild.cache_root({'HRNET_MM_CACHE': '', 'XDG_CACHE_HOME': '/x', 'HOME': '/h'}) == Path('/x/hrnet_mm')
    assert rebuild.cache_root({'XDG_CACHE_HOME': '', 'HOME': '/h'}) == Path('/h/.cache/hrnet_mm')


def test_a_cached_wheel_is_found_for_its_python_only(tmp_path):
    for tag in ('cp311', 'cp313'):
        (tmp_path / f'mmcv-2.1.0-{tag}-{tag}-linux_x86_64.whl').write_bytes(b'')
    assert rebuild.cached_wheel(tmp_path, 'cp313').name == 'mmcv-2.1.0-cp313-cp313-linux_x86_64.whl'
    assert rebuild.cached_wheel(tmp_path, 'cp312') is None
    assert rebuild.cached_wheel(tmp_path / 'absent', 'cp311') is None


@pytest.mark.parametrize('device, torch_cuda, gpu, nvcc, expected', [
    ('auto', None, False, None, None),  # CPU torch
    ('auto', '13.0', False, '13.0', None),  # CUDA torch without a GPU: the layout setup_env.sh cached
    ('auto', '13.0', True, '13.0', '13.0'),
    ('auto', '12.4', True, '12.6', '12.6'),  # the tag is nvcc's release, as before
    ('auto', '13.0', True, None, None),  # no nvcc: the CPU ops, said in a line
    ('cpu', '13.0', True, '13.0', None),
    ('cuda', '13.0', False, '13.0', '13.0'),  # a build host without a GPU
])
def test_cuda_ops_are_built_when_torch_sees_a_gpu_and_nvcc_exists(device, torch_cuda, gpu, nvcc, expected):
    assert rebuild.choose_cuda(device, torch_cuda, gpu, nvcc) == expected


@pytest.mark.parametrize('device, torch_cuda, nvcc, words', [
    ('cuda', None, '13.0', ('CPU build',)),
    ('cuda', '13.0', None, ('nvcc is not on PATH', '--device cpu')),
    ('auto', '13.0', '12.4', ('nvcc is CUDA 12.4', 'torch is built with CUDA 13.0')),
])
def test_a_cuda_build_that_cannot_work_is_refused_in_one_line(device, torch_cuda, nvcc, words):
    with pytest.raises(RebuildError) as err:
        rebuild.choose_cuda(device, torch_cuda, True, nvcc)
    _one_line_error(str(err.value), *words)


# --- The command ---

TARGET = Target.of(sys.version_info[:2], '2.14.1', None)
BUILD = rebuild.build_mmcv_wheel


@pytest.fixture
def no_build(monkeypatch, tmp_path):
    """This interpreter's target on CPU, the cache in tmp_path, and no build or install allowed."""
    monkeypatch.setenv('HRNET_MM_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setattr(rebuild, 'this_target', lambda device='auto': TARGET)

    def refuse(*args, **kwargs):
        raise RebuildError('no build or install expected')  # main: status 2
    monkeypatch.setattr(rebuild, 'build_mmcv_wheel', refuse)
    monkeypatch.setattr(rebuild, 'install_wheel', refuse)
    return tmp_path / 'cache' / TARGET.folder


def test_an_installed_mmcv_with_ops_is_left_alone(no_build, monkeypatch, capsys):
    found = rebuild.Installed('2.1.0', None, '2.14.1+cu130', '13.0', False)
    monkeypatch.setattr(rebuild, 'installed_mmcv', lambda python=sys.executable: found)
    assert rebuild.main(['mmcv']) == 0
    out = capsys.readouterr().out.strip()
    assert out == 'mmcv 2.1.0 with ops (cpu) is already installed and imports with torch 2.14.1; --force rebuilds it'


def test_cpu_ops_are_rebuilt_where_torch_sees_a_gpu_and_nvcc_exists(no_build, monkeypatch, capsys):
    found = rebuild.Installed('2.1.0', None, '2.14.1+cu130', '13.0', True)
    monkeypatch.setattr(rebuild, 'installed_mmcv', lambda python=sys.executable: found)
    monkeypatch.setattr(rebuild, 'nvcc_release', lambda nvcc='nvcc': '13.0')
    assert rebuild.main(['mmcv']) == 2  # the build (refused here) was started
    out = capsys.readouterr().out
    assert ('the installed mmcv 2.1.0 (CPU ops only) is replaced by mmcv 2.1.0 with ops for torch 2.14.1 '
            '(cuda13.0)') in out


def test_the_installed_check_reads_this_environment():
    found = rebuild.installed_mmcv()  # this environment has mmcv 2.1.0 with ops
    import torch
    assert found is not None and found.mmcv == '2.1.0' and found.torch == torch.__version__
    assert rebuild.installed_mmcv(python=str(Path(sys.executable).with_name('no-such-python'))) is None


def test_a_cached_wheel_is_used_without_a_build(no_build, tmp_path, monkeypatch, capsys):
    no_build.mkdir(parents=True)
    wheel = no_build / f'mmcv-2.1.0-{TARGET.python}-{TARGET.python}-linux_x86_64.whl'
    wheel.write_bytes(b'wheel')
    monkeypatch.setattr(rebuild, 'installed_mmcv', lambda python=sys.executable: None)
    assert rebuild.main(['mmcv', '--no-install', '--wheel-dir', str(tmp_path / 'out')]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == f'{TARGET.describe()}: ok, not installed (--no-install): {wheel}'
    assert (tmp_path / 'out' / wheel.name).read_bytes() == b'wheel'


def test_the_command_runs_as_a_file_without_importing_hrnet_mm_or_mmcv():
    """tools/setup_env.sh runs it before mmcv exists, when ``import hrnet_mm`` would fail (models need mmcv).

    The fast path here (this environment has mmcv) asks a fresh interpreter; this one must not import either.
    """
    guard = textwrap.dedent(f"""\
        import runpy, sys
        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('hrnet_mm', 'mmcv', 'mmengine'):
                    raise ImportError('imported ' + name)
        sys.meta_path.insert(0, Refuse())
        sys.argv = [{str(SCRIPT)!r}, 'mmcv']
        runpy.run_path(sys.argv[0], run_name='__main__')
    """)
    proc = subprocess.run([sys.executable, '-c', guard], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr
    import torch  # the installed torch, whichever stack runs the suite
    torch_release = torch.__version__.split('+')[0]
    assert proc.stdout.strip().endswith(f'is already installed and imports with torch {torch_release}; '
                                        '--force rebuilds it')


def test_no_compiler_is_one_line_with_status_2(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ('CXX', 'CC')}
    (tmp_path / 'empty').mkdir()
    env.update(PATH=str(tmp_path / 'empty'), HRNET_MM_CACHE=str(tmp_path / 'cache'))
    proc = subprocess.run([sys.executable, str(SCRIPT), 'mmcv', '--force', '--no-install'],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 2
    _one_line_error(proc.stderr, 'error: no C++ compiler', "'c++' is not on PATH")
    assert not (tmp_path / 'cache').exists()


def test_an_unexpected_source_is_one_line_with_status_2(no_build, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(rebuild, 'build_mmcv_wheel', BUILD)  # up to the patch, which fails
    tree = tmp_path / 'mmcv-2.1.0'
    tree.mkdir()
    (tree / 'setup.py').write_text('from setuptools import setup\nsetup()\n')
    monkeypatch.setattr(rebuild, 'source_tree', lambda requirement, work: tree)
    monkeypatch.setattr(rebuild, 'compiler_missing', lambda env=None: None)
    assert rebuild.main(['mmcv', '--force', '--no-install']) == 2
    _one_line_error(capsys.readouterr().err, 'error:', "is not mmcv 2.1.0's setup.py as expected")
    assert not no_build.parent.exists()  # nothing cached, no log left


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        rebuild.main(['mmcv', '--bogus'])
    assert exit_.value.code == 2
    _one_line_error(capsys.readouterr().err, 'error: unrecognized arguments: --bogus')
    with pytest.raises(SystemExit):
        rebuild.main(['xtcocotools', '--no-install'])
    _one_line_error(capsys.readouterr().err, 'apply to mmcv only')


# --- Progress and logs ---

@pytest.mark.parametrize('line, shown', [
    ('  [12/139] c++ -MMD -MF /t/build/nms.o.d -pthread -I/t/mmcv/ops/csrc/common -c /t/mmcv/ops/csrc/pytorch/nms.cpp '
     '-o /t/build/nms.o -std=c++20', '  [12/139] nms.cpp'),
    ("[5/250] /usr/local/cuda/bin/nvcc --generate-dependencies-with-compile -c /t/cuda/roi_align_cuda.cu -o "
     "/t/roi_align_cuda.o --compiler-options ''-fPIC''", '  [5/250] roi_align_cuda.cu'),
    ('gcc -pthread -fPIC -c mmcv/ops/csrc/pytorch/info.cpp -o build/temp/info.o', '  compiling info.cpp'),
    ('c++ -pthread -shared build/temp/nms.o -o build/lib.linux-x86_64-cpython-311/mmcv/_ext.cpython-311-x86_64'
     '-linux-gnu.so', '  linking _ext.cpython-311-x86_64-linux-gnu.so'),
    ('copying mmcv/ops/csrc/pytorch/nms.cpp -> build/lib/mmcv/ops/csrc/pytorch', None),
])
def test_progress_shows_one_short_line_per_compiled_file(line, shown):
    assert rebuild.progress(line) == shown


def test_a_long_quiet_build_still_says_it_is_running(tmp_path, capsys):
    log = tmp_path / 'build.log'
    quiet = 'import time; print("[1/2] c++ -c a.cpp -o a.o", flush=True); time.sleep(1.5); print("done")'
    assert rebuild.run_logged([sys.executable, '-c', quiet], dict(os.environ), log, heartbeat_s=0.5) == 0
    out = capsys.readouterr().out
    assert out.startswith('  [1/2] a.cpp\n') and '... still building (0 min so far)' in out
    assert log.read_text() == '[1/2] c++ -c a.cpp -o a.o\ndone\n'


def test_a_failed_build_names_its_first_error(tmp_path):
    log = tmp_path / 'build.log'
    log.write_text('[1/2] c++ -c a.cpp\nFAILED: a.o\na.cpp:3:1: error: expected ";"\nerror: command failed\n')
    assert rebuild.first_error(log) == 'a.cpp:3:1: error: expected ";"'
    log.write_text('Traceback (most recent call last):\nModuleNotFoundError: No module named torch\nend\n')
    assert rebuild.first_error(log) == 'ModuleNotFoundError: No module named torch'
    log.write_text('one\nlast\n')
    assert rebuild.first_error(log) == 'last'


# --- One recipe: tools/setup_env.sh builds mmcv through this module ---

def test_setup_env_builds_mmcv_through_the_module():
    script = (REPO / 'tools' / 'setup_env.sh').read_text()
    calls = [line for line in script.splitlines()
             if 'hrnet_mm/rebuild.py mmcv' in line and not line.lstrip().startswith('#')]
    assert len(calls) == 1 and '"$VENV/bin/python"' in calls[0]
    for recipe in ('MMCV_WITH_OPS', 'FORCE_CUDA', 'sed -i', 'c++20', 'pip download', 'mmcv==2.1.0'):
        assert recipe not in script, f'setup_env.sh has its own mmcv recipe again ({recipe})'
