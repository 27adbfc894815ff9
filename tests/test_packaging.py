"""The package ships its configs like OpenMMLab wheels (``hrnet_mm/.mim/configs``) and resolves them by name."""
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest
from mmengine.config import Config

import hrnet_mm
from hrnet_mm.config_lookup import packaged_configs_dir, resolve_config

REPO = Path(__file__).resolve().parents[1]
SEG_W18 = 'hrnet_seg/fcn_hrnetv2-w18_4xb2-40k_cityscapes-512x1024.py'
REPO_CONFIGS = sorted(p.relative_to(REPO).as_posix() for p in (REPO / 'configs').glob('*/*.py'))
# Not sources: the environment, build outputs, data and caches (top level), and anywhere below
# caches, egg-info and the generated .mim folder itself.
TOP_LEVEL_SKIP = {'.venv', '.git', 'build', 'dist', 'work_dirs', 'data', '.pytest_cache', '.ruff_cache', '.mypy_cache'}
ANYWHERE_SKIP = shutil.ignore_patterns('*.egg-info', '.mim', '__pycache__', '*.pyc')

USER_CONFIG = textwrap.dedent(f"""\
    _base_ = 'hrnet_mm::{SEG_W18}'
    model = dict(decode_head=dict(num_classes=7))
""")


def _source_copy(tmp_path: Path) -> Path:
    """The repository's sources, copied, so building never writes into the working tree."""
    def skip(folder, names):
        top = {n for n in names if n in TOP_LEVEL_SKIP} if Path(folder) == REPO else set()
        return top | ANYWHERE_SKIP(folder, names)

    src = tmp_path / 'src'
    shutil.copytree(REPO, src, ignore=skip)
    return src


def test_resolve_config_prefers_an_existing_local_file(tmp_path, monkeypatch):
    local = tmp_path / 'hrnet_seg' / Path(SEG_W18).name
    local.parent.mkdir()
    local.write_text("_base_ = []\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_config(SEG_W18) == SEG_W18  # as given: a relative path that exists here


def test_resolve_config_falls_back_to_the_packaged_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing named hrnet_seg/ here
    expected = Path(hrnet_mm.__file__).resolve().parent / '.mim' / 'configs' / SEG_W18
    assert resolve_config(SEG_W18) == str(expected)
    assert resolve_config('hrnet_mm::' + SEG_W18) == str(expected)
    assert Path(expected).read_text() == (REPO / 'configs' / SEG_W18).read_text()  # the repo's own config


def test_resolve_config_names_every_place_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        resolve_config('hrnet_seg/no-such.py')
    message = str(err.value)
    assert '\n' not in message
    assert str(tmp_path / 'hrnet_seg' / 'no-such.py') in message
    assert str(packaged_configs_dir() / 'hrnet_seg' / 'no-such.py') in message
    with pytest.raises(FileNotFoundError, match='packaged'):
        resolve_config('hrnet_mm::hrnet_seg/no-such.py')


def test_mmengine_resolves_hrnet_mm_base_configs_in_this_environment(tmp_path):
    user = tmp_path / 'user.py'
    user.write_text(USER_CONFIG)
    cfg = Config.fromfile(str(user))
    assert cfg.model.backbone.type == 'hrnet_mm.HRNet' and cfg.model.backbone.arch == 'w18'
    assert cfg.model.decode_head.num_classes == 7  # the user's override on top of the packaged base
    assert cfg.model.decode_head.type == 'FCNHead'


def test_sdist_carries_the_configs_and_its_wheel_ships_them(tmp_path):
    src = _source_copy(tmp_path)
    proc = subprocess.run([sys.executable, 'setup.py', '-q', 'sdist', '-d', str(tmp_path / 'dist')], cwd=src,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (archive,) = (tmp_path / 'dist').glob('hrnet_mm-*.tar.gz')
    with tarfile.open(archive) as tar:
        names = {name.partition('/')[2] for name in tar.getnames()}
    assert {'model-index.yml', 'MANIFEST.in', 'requirements/constraints.txt'} <= names
    assert set(REPO_CONFIGS) <= names
    assert {'configs/hrnet_seg/metafile.yml', 'configs/hrnet_pose/metafile.yml'} <= names
    assert not any('.mim' in name for name in names)  # generated again when a wheel is built from it

    proc = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation',
                           str(archive), '-w', str(tmp_path / 'wheels')], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / 'wheels').glob('hrnet_mm-*.whl')
    with zipfile.ZipFile(wheel) as zf:
        assert {f'hrnet_mm/.mim/{c}' for c in REPO_CONFIGS} | {'hrnet_mm/.mim/model-index.yml'} <= set(zf.namelist())


def test_wheel_ships_configs_and_resolves_them_when_installed(tmp_path):
    src = _source_copy(tmp_path)
    wheels = tmp_path / 'wheels'
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check']
    proc = subprocess.run(pip + ['wheel', '-q', '--no-deps', '--no-build-isolation', str(src), '-w', str(wheels)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = wheels.glob('hrnet_mm-*.whl')

    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        shipped = zf.read(f'hrnet_mm/.mim/configs/{SEG_W18}').decode()
    assert {f'hrnet_mm/.mim/{c}' for c in REPO_CONFIGS} <= names  # every config, as a plain file
    assert 'hrnet_mm/.mim/model-index.yml' in names and 'hrnet_mm/.mim/configs/hrnet_seg/metafile.yml' in names
    assert 'hrnet_mm/config_lookup.py' in names
    assert shipped == (REPO / 'configs' / SEG_W18).read_text()

    # A fresh environment: the wheel installed into it, the rest of the stack (torch, mmengine, mmseg)
    # borrowed from this one by a plain path entry, which puts it after the venv's own site-packages
    # and does not run this environment's .pth files (the editable hrnet_mm finder among them).
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True, timeout=120)
    python = venv / 'bin' / 'python'
    purelib = 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
    site = Path(subprocess.check_output([str(python), '-c', purelib], text=True).strip())
    stack = next(p for p in sys.path if p.endswith('site-packages') and (Path(p) / 'mmengine').is_dir())
    (site / 'zz_project_stack.pth').write_text(stack + '\n')
    proc = subprocess.run(pip + ['--python', str(python), 'install', '-q', '--no-deps', str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    work = tmp_path / 'elsewhere'  # outside the repository: no hrnet_mm to import from the current folder
    work.mkdir()
    (work / 'user.py').write_text(USER_CONFIG)
    script = textwrap.dedent(f"""\
        import hrnet_mm  # all a user does: importing the package lets mmengine resolve hrnet_mm::
        from mmengine.config import Config
        cfg = Config.fromfile('user.py')
        from hrnet_mm.config_lookup import resolve_config
        print('FILE', hrnet_mm.__file__)
        print('RESOLVED', resolve_config({SEG_W18!r}))
        print('BACKBONE', cfg.model.backbone.type, cfg.model.backbone.arch, cfg.model.decode_head.num_classes)
    """)
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME')}
    proc = subprocess.run([str(python), '-W', 'ignore', '-c', script], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    lines = dict(line.split(' ', 1) for line in proc.stdout.splitlines() if ' ' in line)
    installed = site / 'hrnet_mm'
    assert Path(lines['FILE']) == installed / '__init__.py'  # the wheel's copy, not the repository's
    assert Path(lines['RESOLVED']) == installed / '.mim' / 'configs' / SEG_W18
    assert lines['BACKBONE'] == 'hrnet_mm.HRNet w18 7'
