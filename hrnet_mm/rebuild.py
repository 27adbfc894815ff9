"""Build a package from its source against this environment: ``python -m hrnet_mm.rebuild xtcocotools``.

The published xtcocotools wheel is built for numpy 1 (mmpose cannot import it under numpy 2), and on
Python 3.13 its source does not build as released: its ``setup.py`` reads the version through
``locals()`` after ``exec``, which Python 3.13 no longer fills. This downloads the source, patches
that read, and builds and installs it against the installed numpy (a C compiler is needed; Cython and wheel are
installed first if they are missing). :mod:`hrnet_mm.environment` names this command when it is needed;
tools/setup_env.sh runs it too.
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hrnet_mm.errors import SetupError

REBUILDS = {'xtcocotools': 'xtcocotools==1.14.3'}  # the release mmpose 1.3 is tested with
BUILD_TOOLS = (('Cython', 'cython'), ('wheel', 'wheel'))  # (module, package)
# How setup.py files of that era read their version, and the form that works on Python 3.13 as well.
VERSION_READ = "exec(compile(f.read(), version_file, 'exec'))"
VERSION_READ_FIXED = "exec(compile(f.read(), version_file, 'exec'), version_ns := {})"


def source_tree(requirement: str, work: Path) -> Path:
    """The unpacked sdist of ``requirement`` (e.g. ``xtcocotools==1.14.3``) under ``work``, its setup.py patched.

    pip runs a downloaded sdist's ``setup.py`` for its metadata, which is what fails on Python 3.13;
    ``--no-clean`` keeps the unpacked tree all the same.

    Raises:
        SetupError: The download failed (the message ends with pip's last line).
    """
    proc = subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-clean', '--no-deps', '--no-binary',
                           ':all:', '--no-build-isolation', requirement, '-d', str(work)],
                          env={**os.environ, 'TMPDIR': str(work)}, capture_output=True, text=True)
    trees = sorted(work.glob('pip-download-*/*/setup.py'))
    if not trees:
        said = [line for line in proc.stderr.splitlines() if line.strip()]
        raise SetupError(f'could not download the source of {requirement}: {said[-1] if said else proc.returncode}')
    patch_version_read(trees[0])
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


def rebuild(name: str) -> None:
    """Build ``name`` (one of :data:`REBUILDS`) from its source against this environment and install it."""
    pip = [sys.executable, '-m', 'pip', 'install', '-q', '--disable-pip-version-check']
    # what a build without isolation needs beside setuptools and numpy (wheel: setuptools < 70.1)
    missing = [package for module, package in BUILD_TOOLS if importlib.util.find_spec(module) is None]
    if missing:
        subprocess.run(pip + missing, check=True)
    with tempfile.TemporaryDirectory() as work:
        tree = source_tree(REBUILDS[name], Path(work))
        subprocess.run(pip + ['--force-reinstall', '--no-deps', '--no-build-isolation', str(tree)], check=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m hrnet_mm.rebuild', description=__doc__.splitlines()[0])
    parser.add_argument('package', choices=sorted(REBUILDS))
    rebuild(parser.parse_args(argv).package)
    # checked by a fresh interpreter: this one may hold the old build's library
    check = 'from hrnet_mm.environment import problems; print(*problems(), sep="\\n")'
    remaining = subprocess.run([sys.executable, '-c', check], capture_output=True, text=True).stdout.strip()
    print(remaining or 'hrnet_mm: the installed stack has all it needs')
    return 1 if remaining else 0


if __name__ == '__main__':
    sys.exit(main())
