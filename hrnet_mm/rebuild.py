"""Build a package from its source against this environment: ``python -m hrnet_mm.rebuild mmcv|xtcocotools``.

mmcv 2.1.0 (the release mmseg 1.2, mmdet 3.3 and mmpose 1.3 accept) has no wheel for current torch,
and its source does not build as released: its ``setup.py`` asks for C++14/17 where torch 2.14's
headers need C++20, imports ``pkg_resources`` (gone from setuptools 81) and, like xtcocotools',
reads its version through ``locals()`` after ``exec``, which Python 3.13 no longer fills.
``python -m hrnet_mm.rebuild mmcv`` downloads the source, patches those lines, builds a wheel with
the ops against the installed torch (CPU, or CUDA when torch sees a GPU and ``nvcc`` is on PATH),
caches it per Python, torch and CUDA version, and installs it.

The published xtcocotools wheel is built for numpy 1 (mmpose cannot import it under numpy 2), and on
Python 3.13 its source has the same version read; ``python -m hrnet_mm.rebuild xtcocotools`` builds
and installs it against the installed numpy. :mod:`hrnet_mm.environment` names that command when it
is needed.

A C compiler is needed for both. This module imports nothing of hrnet_mm, so it also runs as a file
(``python hrnet_mm/rebuild.py mmcv``) where hrnet_mm cannot be imported yet; tools/setup_env.sh runs
it so. Every error is one line and exit status 2.
"""
import argparse
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional, Sequence

REBUILDS = {'mmcv': 'mmcv==2.1.0', 'xtcocotools': 'xtcocotools==1.14.3'}  # the releases the stack is tested with
MMCV_VERSION = '2.1.0'
BUILD_TOOLS = (('Cython', 'cython'), ('wheel', 'wheel'))  # (module, package) the xtcocotools build needs
# How setup.py files of that era read their version, and the form that works on Python 3.13 as well.
VERSION_READ = "exec(compile(f.read(), version_file, 'exec'))"
VERSION_READ_FIXED = "exec(compile(f.read(), version_file, 'exec'), version_ns := {})"
CXX_STANDARD = re.compile(r'c\+\+1[47]')  # mmcv's -std=c++14/17 (and MSVC's /std:), all raised to C++20
# pkg_resources, which mmcv's setup.py imports; 77: the oldest setuptools torch 2.14 accepts
OLD_SETUPTOOLS = 'setuptools>=77,<81'
BUILD_MINUTES = '77 C++ files for the CPU ops, 43 min of CPU time'  # measured: docs/install.md
HEARTBEAT_S = 60  # a line at least this often while the compiler is quiet
NINJA_STEP = re.compile(r'^\s*\[(\d+)/(\d+)\]\s')  # pip -v indents the build's output
COMPILED_SOURCE = re.compile(r'\s-c\s+[\'"]?(\S+?\.(?:cpp|cu|cc|c))[\'"]?(?:\s|$)')
LINKED_LIBRARY = re.compile(r'\s-shared\s.*-o\s+\S*/(_ext\S*\.so)')


class RebuildError(RuntimeError):
    """A build that cannot start or did not finish; the message is the one line the command prints."""


def say(text: str) -> None:
    """One progress line of the mmcv build, flushed at once (the build runs for minutes)."""
    print(f'[mmcv] {text}', flush=True)


# --- What a wheel is built for, and where it is cached ---

class Target(NamedTuple):
    """What an mmcv wheel is built for: its cache key.

    Example:
        >>> target = Target.of((3, 13), '2.14.1+cu130', '13.0')
        >>> target.folder, target.describe()
        ('mmcv-2.1.0-cp313-torch2.14.1-cuda13.0', 'mmcv 2.1.0 with ops for torch 2.14.1 (cuda13.0)')
    """

    python: str  # the wheel's Python tag: a cp311 build does not install into 3.13
    torch: str  # without the local part: '2.14.1', not '2.14.1+cu130'
    cuda: Optional[str]  # nvcc's release ('12.4'), or None for the CPU ops only

    @classmethod
    def of(cls, python: Sequence[int], torch_version: str, cuda: Optional[str]) -> 'Target':
        """The target of an interpreter version, a ``torch.__version__`` and a CUDA release (or None)."""
        return cls(f'cp{python[0]}{python[1]}', torch_version.split('+')[0], cuda)

    @property
    def tag(self) -> str:
        """``cpu`` or ``cuda<release>``."""
        return f'cuda{self.cuda}' if self.cuda else 'cpu'

    @property
    def folder(self) -> str:
        """The cache folder's name (the layout tools/setup_env.sh has always used)."""
        return f'mmcv-{MMCV_VERSION}-{self.python}-torch{self.torch}-{self.tag}'

    def describe(self) -> str:
        """What the verdict line names."""
        return f'mmcv {MMCV_VERSION} with ops for torch {self.torch} ({self.tag})'


def cache_root(env=None) -> Path:
    """``$HRNET_MM_CACHE``, else ``$XDG_CACHE_HOME/hrnet_mm``, else ``~/.cache/hrnet_mm`` (empty counts as unset)."""
    env = os.environ if env is None else env
    if env.get('HRNET_MM_CACHE'):
        return Path(env['HRNET_MM_CACHE'])
    return Path(env.get('XDG_CACHE_HOME') or Path(env.get('HOME') or Path.home()) / '.cache') / 'hrnet_mm'


def cached_wheel(folder: Path, python: str) -> Optional[Path]:
    """The mmcv wheel for Python tag ``python`` (``cp311``) in ``folder``, if one is there."""
    wheels = sorted(folder.glob(f'mmcv-{MMCV_VERSION}-{python}-*.whl'))
    return wheels[0] if wheels else None


def nvcc_release(nvcc: str = 'nvcc') -> Optional[str]:
    """The CUDA release of the ``nvcc`` on PATH (``'12.4'``), or None without one."""
    path = shutil.which(nvcc)
    if path is None:
        return None
    proc = subprocess.run([path, '--version'], capture_output=True, text=True)
    found = re.search(r'release ([0-9.]+)', proc.stdout)
    return found.group(1).rstrip('.') if found else None


def choose_cuda(device: str, torch_cuda: Optional[str], gpu: bool, nvcc: Optional[str]) -> Optional[str]:
    """The CUDA release to build the ops for, or None for the CPU ops only.

    Args:
        device: ``auto`` (CUDA when torch sees a GPU and nvcc exists), ``cpu`` or ``cuda`` (also without a GPU).
        torch_cuda: ``torch.version.cuda`` (None for a CPU build of torch).
        gpu: ``torch.cuda.is_available()``.
        nvcc: :func:`nvcc_release`.

    Raises:
        RebuildError: CUDA was asked for and cannot be built, or nvcc's major version is not torch's.

    Example:
        >>> choose_cuda('auto', '13.0', False, '13.0') is None, choose_cuda('auto', '13.0', True, '13.0')
        (True, '13.0')
    """
    if device == 'cpu' or (device == 'auto' and not (gpu and torch_cuda)):
        return None
    if torch_cuda is None:
        raise RebuildError('this torch is a CPU build: install a CUDA build of torch, or leave out --device cuda')
    if nvcc is None:
        if device == 'auto':
            say('torch sees a GPU but nvcc is not on PATH: building the CPU ops only (--device cuda needs nvcc)')
            return None
        raise RebuildError('nvcc is not on PATH: install the CUDA toolkit of torch (CUDA '
                           f'{torch_cuda}) or put its bin/ on PATH, or use --device cpu')
    if nvcc.split('.')[0] != torch_cuda.split('.')[0]:
        raise RebuildError(f'nvcc is CUDA {nvcc} but torch is built with CUDA {torch_cuda}: put a CUDA '
                           f'{torch_cuda.split(".")[0]}.x nvcc first on PATH, or use --device cpu')
    return nvcc


def this_target(device: str = 'auto') -> Target:
    """The :class:`Target` of this interpreter and its torch.

    Raises:
        RebuildError: torch is not installed, or CUDA cannot be built (see :func:`choose_cuda`).
    """
    try:
        import torch
    except ImportError as err:
        raise RebuildError(f'torch is not importable ({err}): install the torch build you want first, '
                           "mmcv's ops are compiled against it") from None
    cuda = choose_cuda(device, torch.version.cuda, torch.cuda.is_available(), nvcc_release())
    return Target.of(sys.version_info[:2], torch.__version__, cuda)


class Installed(NamedTuple):
    """An mmcv whose ops import, and the torch they import with."""

    mmcv: str  # its version
    ops_cuda: Optional[str]  # the CUDA release its ops were compiled with; None: CPU ops only
    torch: str  # torch.__version__
    torch_cuda: Optional[str]  # torch.version.cuda
    gpu: bool  # torch.cuda.is_available()

    def target(self, device: str = 'auto') -> Target:
        """The :class:`Target` of this torch (as :func:`this_target`, without importing torch here)."""
        return Target.of(sys.version_info[:2], self.torch,
                         choose_cuda(device, self.torch_cuda, self.gpu, nvcc_release()))


# One fresh interpreter answers both questions: importing torch takes long, twice longer.
INSTALLED_CHECK = ('import json, mmcv, mmcv.ops, torch; from mmcv.ops import get_compiling_cuda_version as ops; '
                   'print(json.dumps([mmcv.__version__, ops(), torch.__version__, torch.version.cuda, '
                   'torch.cuda.is_available()]))')


def installed_mmcv(python: str = sys.executable) -> Optional[Installed]:
    """The mmcv that ``python`` imports with its ops, or None when ``import mmcv.ops`` fails there.

    Asked of a fresh interpreter: this one must not hold an mmcv that a build is about to replace.
    """
    try:
        proc = subprocess.run([python, '-c', INSTALLED_CHECK], capture_output=True, text=True, timeout=600)
        mmcv, ops_cuda, torch_version, torch_cuda, gpu = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, IndexError, ValueError):  # no such interpreter, no mmcv
        return None
    return Installed(mmcv, None if ops_cuda == 'not available' else ops_cuda, torch_version, torch_cuda, bool(gpu))


# --- The source and its patches ---

def source_tree(requirement: str, work: Path) -> Path:
    """The unpacked sdist of ``requirement`` (e.g. ``mmcv==2.1.0``) under ``work``, unpatched.

    pip runs a downloaded sdist's ``setup.py`` for its metadata, which is what fails on Python 3.13
    (and, for mmcv, without pkg_resources); ``--no-clean`` keeps the unpacked tree all the same.

    Raises:
        RebuildError: The download failed (the message ends with pip's last line).
    """
    proc = subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--disable-pip-version-check', '--no-clean',
                           '--no-deps', '--no-binary', ':all:', '--no-build-isolation', requirement, '-d', str(work)],
                          env={**os.environ, 'TMPDIR': str(work)}, capture_output=True, text=True)
    trees = sorted(work.glob('pip-download-*/*/setup.py'))
    if not trees:
        said = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        errors = [line for line in said if line.startswith('ERROR')]
        last = (errors or said or [f'pip exited with {proc.returncode}'])[-1]
        raise RebuildError(f'could not download the source of {requirement}: {last}')
    return trees[0].parent


def patch_version_read(setup: Path) -> bool:
    r"""Make a ``setup.py`` that execs its version file and reads ``locals()`` work on Python 3.13 too.

    Returns:
        bool: Whether the file read its version that way (and was patched).

    Example:
        >>> import tempfile
        >>> setup = Path(tempfile.mkdtemp()) / 'setup.py'
        >>> _ = setup.write_text("def get_version():\n    with open(version_file) as f:\n"
        ...                      "        exec(compile(f.read(), version_file, 'exec'))\n"
        ...                      "    return locals()['__version__']\n")
        >>> patch_version_read(setup), 'locals()' in setup.read_text()
        (True, False)
    """
    text = setup.read_text()
    if VERSION_READ not in text:
        return False
    setup.write_text(text.replace(VERSION_READ, VERSION_READ_FIXED).replace('locals()[', 'version_ns['))
    return True


def patch_mmcv_setup(setup: Path) -> None:
    """Patch mmcv 2.1.0's ``setup.py``: every C++14/17 flag to C++20, and the version read (Python 3.13).

    Each patch is checked: a file that lacks what it replaces is not the source this was written for.

    Raises:
        RebuildError: ``setup.py`` is not mmcv 2.1.0's as expected (names the patch that found nothing).
    """
    text = setup.read_text()
    if "'-std=c++17'" not in text:
        raise RebuildError(f"{setup} is not mmcv {MMCV_VERSION}'s setup.py as expected: "
                           "no '-std=c++17' flag to raise to C++20")
    setup.write_text(CXX_STANDARD.sub('c++20', text))
    patch_version_read(setup)
    patched = setup.read_text()
    if "return version_ns['__version__']" not in patched or 'locals()[' in patched:
        raise RebuildError(f"{setup} is not mmcv {MMCV_VERSION}'s setup.py as expected: "
                           'its version read is not the exec/locals() one this patches')


# --- The build ---

def compiler_missing(env=None) -> Optional[str]:
    """The C++ compiler torch's extension build calls (``$CXX``, else ``c++``) when it is not on PATH, else None."""
    env = os.environ if env is None else env
    cxx = (env.get('CXX') or 'c++').split()[0]
    return None if shutil.which(cxx, path=env.get('PATH', os.defpath)) else cxx


def build_tools(work: Path) -> List[str]:
    """Fetch what the mmcv build needs and this environment lacks into ``work`` (never into the environment).

    Returns:
        list: The requirements fetched (:func:`build_env` puts them first on the build's paths).

    Raises:
        RebuildError: pip could not fetch them; the line says what to install instead.
    """
    needs = {}  # package -> why
    if importlib.util.find_spec('pkg_resources') is None:
        needs[OLD_SETUPTOOLS] = "this setuptools has no pkg_resources, which mmcv's setup.py imports"
    if importlib.util.find_spec('wheel') is None:
        needs['wheel'] = 'setuptools < 70.1 builds wheels only with it'
    if shutil.which('ninja') is None:
        needs['ninja'] = 'without it torch compiles one file at a time'
    if not needs:
        return []
    wanted = list(needs)
    say(f'fetching {", ".join(wanted)} for this build only ({"; ".join(needs.values())})')
    proc = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--target',
                           str(work / 'build-tools'), *wanted], capture_output=True, text=True)
    if proc.returncode != 0:
        said = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        why = said[-1] if said else f'pip exited with {proc.returncode}'
        raise RebuildError(f'could not fetch {" ".join(wanted)} for the build ({why}): '
                           f"pip install '{OLD_SETUPTOOLS}' wheel ninja, then rerun")
    return wanted


def build_env(target: Target, work: Path) -> dict:
    """The environment of the wheel build: ops on, CUDA or not as ``target`` says, the fetched tools first."""
    env = {**os.environ, 'MMCV_WITH_OPS': '1', 'TMPDIR': str(work)}
    # mmcv's default is max(4, cores - 1) jobs: twice too many on 2 cores
    env.setdefault('MAX_JOBS', str(len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
                                   else os.cpu_count() or 1))
    if target.cuda:
        env['FORCE_CUDA'] = '1'
    else:  # mmcv builds CUDA ops whenever torch sees a GPU: hide it
        env.update(FORCE_CUDA='0', CUDA_VISIBLE_DEVICES='')
    tools = work / 'build-tools'
    if tools.is_dir():
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(tools), os.environ.get('PYTHONPATH')]))
        env['PATH'] = os.pathsep.join([str(tools / 'bin'), env.get('PATH', os.defpath)])
    return env


def progress(line: str) -> Optional[str]:
    """The short form of a compiler's command line in the build output, or None for any other line.

    Example:
        >>> progress('[3/139] c++ -MMD -c /tmp/x/mmcv/ops/csrc/pytorch/nms.cpp -o /tmp/x/nms.o -std=c++20')
        '  [3/139] nms.cpp'
        >>> progress('copying mmcv/version.py -> build/lib/mmcv') is None
        True
    """
    source = COMPILED_SOURCE.search(line)
    if source:
        step = NINJA_STEP.match(line)
        name = os.path.basename(source.group(1))
        return f'  [{step.group(1)}/{step.group(2)}] {name}' if step else f'  compiling {name}'
    linked = LINKED_LIBRARY.search(line)
    return f'  linking {linked.group(1)}' if linked else None


def run_logged(command: List[str], env: dict, log: Path, show: Callable[[str], Optional[str]] = progress,
               heartbeat_s: float = HEARTBEAT_S) -> int:
    """Run ``command`` with all its output in ``log``, printing ``show``'s lines and one at least every ``heartbeat_s``.

    Returns:
        int: The command's exit status.
    """
    start = time.monotonic()
    last = [start]  # when a line was last printed; the reader thread updates it

    with open(log, 'a') as out, subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                  text=True, errors='replace') as proc:
        def pump() -> None:
            for line in proc.stdout:  # type: ignore[union-attr]
                out.write(line)
                shown = show(line)
                if shown:
                    print(shown, flush=True)
                    last[0] = time.monotonic()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        while reader.is_alive():
            reader.join(timeout=1)
            if time.monotonic() - last[0] >= heartbeat_s:
                print(f'  ... still building ({(time.monotonic() - start) / 60:.0f} min so far)', flush=True)
                last[0] = time.monotonic()
        return proc.wait()


def first_error(log: Path) -> str:
    """The line of a build log that says why it failed, cut to 200 characters.

    The first compiler error (``file:line:col: error: ...``), else the first failed step or Python
    error, else the last line.
    """
    lines = [line.strip() for line in log.read_text(errors='replace').splitlines() if line.strip()]
    for pattern in (r': (fatal )?error:', r'^FAILED:|^error:|Error:'):
        found = [line for line in lines if re.search(pattern, line)]
        if found:
            break
    line = (found or lines or ['no output'])[0 if found else -1]
    return line if len(line) <= 200 else line[:197] + '...'


def build_mmcv_wheel(target: Target, folder: Path) -> Path:
    """Build the mmcv wheel for ``target`` into ``folder`` (replaced only once the build succeeded).

    Raises:
        RebuildError: No compiler, a download, a patch or the compile failed; the line names the log.
    """
    cxx = compiler_missing()
    if cxx:
        raise RebuildError(f"no C++ compiler: '{cxx}' is not on PATH, and mmcv's ops need one "
                           '(install g++ or clang, or set CXX)')
    work = Path(tempfile.mkdtemp(prefix='hrnet_mm-mmcv-'))
    try:
        say(f'building {target.describe()}, once: {BUILD_MINUTES}')
        say(f'[1/4] downloading the source of {REBUILDS["mmcv"]}')
        tree = source_tree(REBUILDS['mmcv'], work)
        say('[2/4] patching its setup.py: C++20 for torch\'s headers, a version read Python 3.13 keeps')
        patch_mmcv_setup(tree / 'setup.py')
        build_tools(work)
        folder.parent.mkdir(parents=True, exist_ok=True)
        log = folder.parent / f'{folder.name}.log'
        log.write_text('')
        say(f'[3/4] compiling the ops ({target.tag}; a line per file, one a minute at least); log: {log}')
        built = Path(tempfile.mkdtemp(prefix=f'{folder.name}.tmp', dir=folder.parent))
        status = run_logged([sys.executable, '-m', 'pip', 'wheel', '-v', '--disable-pip-version-check',
                             '--no-build-isolation', '--no-deps', '--no-cache-dir', str(tree), '-w', str(built)],
                            build_env(target, work), log)
        if status != 0 or cached_wheel(built, target.python) is None:
            shutil.rmtree(built, ignore_errors=True)
            raise RebuildError(f'{target.describe()}: the build failed ({first_error(log)}); log: {log}')
        built.chmod(0o755)  # mkdtemp's 0700: the cache folders have always been readable, as any cache
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(built, folder)
        os.replace(log, folder / 'build.log')
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return cached_wheel(folder, target.python)  # type: ignore[return-value]


def install_wheel(wheel: Path) -> None:
    """Install ``wheel`` into this interpreter's environment, in place of any mmcv there.

    ``--no-deps``: its requirements (mmengine, numpy, Pillow, ...) are hrnet_mm's and torchvision's too,
    and must not be re-resolved next to a user's CUDA builds.
    """
    proc = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--no-deps',
                           '--force-reinstall', str(wheel)], capture_output=True, text=True)
    if proc.returncode != 0:
        said = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        raise RebuildError(f'pip could not install {wheel}: {said[-1] if said else proc.returncode}')


def rebuild_mmcv(force: bool = False, install: bool = True, wheel_dir: Optional[Path] = None,
                 device: str = 'auto') -> str:
    """Build (or take from the cache) mmcv 2.1.0 with ops for this torch, and install it.

    Args:
        force: Build even when mmcv's ops import already or a cached wheel exists.
        install: Install the wheel into this interpreter's environment (else only build or find it).
        wheel_dir: Also copy the wheel into this folder.
        device: ``auto``, ``cpu`` or ``cuda`` (see :func:`choose_cuda`).

    Returns:
        str: The verdict line.

    Raises:
        RebuildError: What failed, in one line (with the log's path for a failed build).
    """
    if importlib.util.find_spec('pip') is None:
        raise RebuildError(f'pip is not installed in the environment of {sys.executable}')
    found = installed_mmcv() if install and not force and wheel_dir is None else None  # --wheel-dir: the wheel
    target = found.target(device) if found else this_target(device)
    if found and found.mmcv == MMCV_VERSION and not (target.cuda and found.ops_cuda is None):
        return (f'mmcv {found.mmcv} with ops ({f"cuda{found.ops_cuda}" if found.ops_cuda else "cpu"}) is already '
                f'installed and imports with torch {target.torch}; --force rebuilds it')
    if found:
        say(f'the installed mmcv {found.mmcv} ({"ops" if found.ops_cuda else "CPU ops only"}) is replaced by '
            f'{target.describe()}')
    folder = cache_root() / target.folder
    wheel = None if force else cached_wheel(folder, target.python)
    step = ''
    if wheel is not None:
        say(f'using the cached wheel {wheel}')
    else:
        step = '[4/4] '
        started, cpu_before = time.monotonic(), _children_cpu_s()
        wheel = build_mmcv_wheel(target, folder)
        say(f'built in {(time.monotonic() - started) / 60:.1f} min '
            f'(CPU time {(_children_cpu_s() - cpu_before) / 60:.1f} min): {wheel}')
    if wheel_dir is not None:
        wheel_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(wheel, wheel_dir / wheel.name)
        say(f'copied to {wheel_dir / wheel.name}')
    if not install:
        return f'{target.describe()}: ok, not installed (--no-install): {wheel}'
    say(f'{step}installing {wheel.name}')
    install_wheel(wheel)
    found = installed_mmcv()  # a fresh interpreter: the wheel's ops must load with this torch
    if found is None or found.mmcv != MMCV_VERSION:
        raise RebuildError(f'{target.describe()}: installed, but `import mmcv.ops` fails; '
                           f'python -c "import mmcv.ops" shows why (wheel: {wheel})')
    if target.cuda and found.ops_cuda is None:
        raise RebuildError(f'{target.describe()}: installed, but its ops have no CUDA (wheel: {wheel})')
    return f'{target.describe()}: ok'


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the compilers, once pip has waited for them
    return usage.ru_utime + usage.ru_stime


def rebuild(name: str) -> None:
    """Build ``name`` (one of :data:`REBUILDS`) from its source against this environment and install it.

    Raises:
        RebuildError: A step failed (one line).
    """
    if name == 'mmcv':
        print(rebuild_mmcv())
        return
    pip = [sys.executable, '-m', 'pip', 'install', '-q', '--disable-pip-version-check']
    # what a build without isolation needs beside setuptools and numpy (wheel: setuptools < 70.1)
    missing = [package for module, package in BUILD_TOOLS if importlib.util.find_spec(module) is None]
    if missing and subprocess.run(pip + missing).returncode != 0:
        raise RebuildError(f'could not install {" ".join(missing)}, which the {name} build needs')
    with tempfile.TemporaryDirectory() as work:
        tree = source_tree(REBUILDS[name], Path(work))
        patch_version_read(tree / 'setup.py')
        if subprocess.run(pip + ['--force-reinstall', '--no-deps', '--no-build-isolation', str(tree)]).returncode:
            raise RebuildError(f'the {name} build failed (pip output above)')


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, as every error of this command
        print(f'{self.prog}: error: {message}', file=sys.stderr)
        sys.exit(2)


def main(argv=None) -> int:
    parser = _Parser(prog='python -m hrnet_mm.rebuild', allow_abbrev=False,
                     description='Build mmcv 2.1.0 (with its ops) or xtcocotools from source against this '
                                 'environment, and install it.')
    parser.add_argument('package', choices=sorted(REBUILDS))
    mmcv = parser.add_argument_group('mmcv only')
    mmcv.add_argument('--force', action='store_true', help='build even if mmcv imports already or a wheel is cached')
    mmcv.add_argument('--no-install', dest='install', action='store_false',
                      help='build (or find in the cache) the wheel, do not install it')
    mmcv.add_argument('--wheel-dir', type=Path, help='also copy the wheel here')
    mmcv.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='auto',
                      help='ops to build: auto (CUDA when torch sees a GPU and nvcc is on PATH), cpu, '
                           'cuda (also without a GPU)')
    args = parser.parse_args(argv)
    if args.package != 'mmcv' and (args.force or not args.install or args.wheel_dir or args.device != 'auto'):
        parser.error('--force, --no-install, --wheel-dir and --device apply to mmcv only')
    try:
        if args.package == 'mmcv':
            print(rebuild_mmcv(args.force, args.install, args.wheel_dir, args.device))
            return 0
        rebuild(args.package)
    except RebuildError as err:
        print(f'{parser.prog} {args.package}: error: {err}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'{parser.prog} {args.package}: interrupted', file=sys.stderr)
        return 2
    # checked by a fresh interpreter: this one may hold the old build's library
    check = 'from hrnet_mm.environment import problems; print(*problems(), sep="\\n")'
    remaining = subprocess.run([sys.executable, '-c', check], capture_output=True, text=True).stdout.strip()
    print(remaining or 'hrnet_mm: the installed stack has all it needs')
    return 1 if remaining else 0


if __name__ == '__main__':
    sys.exit(main())
