"""hrnet_mm.rebuild patches the version read that Python 3.13 breaks, as mmcv's and xtcocotools' setup.py do it."""
import subprocess
import sys
import textwrap
from pathlib import Path

from hrnet_mm.rebuild import patch_version_read

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


def _version(tree: Path, python: str = sys.executable) -> subprocess.CompletedProcess:
    # setuptools runs a setup.py with exec(code, locals()) inside a function, as here
    runner = "def run():\n    exec(compile(open('setup.py').read(), 'setup.py', 'exec'), locals())\nrun()\n"
    return subprocess.run([python, '-c', runner], cwd=tree, capture_output=True, text=True)


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
