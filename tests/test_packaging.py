"""The package ships its configs like OpenMMLab wheels (``hrnet_mm/.mim/configs``) and resolves them by name."""
import json
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
# What mim runs: `mim train|test hrnet_mm` -> .mim/tools/train.py|test.py; `mim run hrnet_mm make_seg_data`.
MIM_TOOLS = [f'tools/{name}.py' for name in ('train', 'test', 'make_seg_data', 'make_pose_data', 'make_det_data',
                                              'make_cls_data', 'make_face_data')]
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


def _setup_extras() -> dict:
    """The literal lists of ``EXTRAS = {...}`` in setup.py, read without running it."""
    import ast
    tree = ast.parse((REPO / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) == 'EXTRAS':
            return {ast.literal_eval(k): ast.literal_eval(v) for k, v in zip(node.value.keys, node.value.values)}
    raise AssertionError('setup.py has no EXTRAS dict')


def test_the_deploy_extra_installs_every_engine_and_what_export_needs():
    from hrnet_mm.apis import runtime
    deploy = set(_setup_extras()['deploy'])
    # export writes with onnx and checks the file in onnxruntime; infer offers each engine
    assert {'onnx', 'onnxruntime'} | set(runtime.ENGINES) <= deploy
    dev = (REPO / 'requirements' / 'dev.txt').read_text().split()
    assert deploy <= set(dev), 'the dev set-up (tools/setup_env.sh) must install the deploy extra'


def test_sdist_carries_the_configs_and_its_wheel_ships_them(tmp_path):
    src = _source_copy(tmp_path)
    proc = subprocess.run([sys.executable, 'setup.py', '-q', 'sdist', '-d', str(tmp_path / 'dist')], cwd=src,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (archive,) = (tmp_path / 'dist').glob('hrnet_mm-*.tar.gz')
    with tarfile.open(archive) as tar:
        names = {name.partition('/')[2] for name in tar.getnames()}
    assert {'model-index.yml', 'MANIFEST.in', 'requirements/constraints.txt'} <= names
    assert set(REPO_CONFIGS) <= names and set(MIM_TOOLS) <= names
    assert {'configs/hrnet_seg/metafile.yml', 'configs/hrnet_pose/metafile.yml'} <= names
    assert not any('.mim' in name for name in names)  # generated again when a wheel is built from it

    proc = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation',
                           str(archive), '-w', str(tmp_path / 'wheels')], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / 'wheels').glob('hrnet_mm-*.whl')
    with zipfile.ZipFile(wheel) as zf:
        assert {f'hrnet_mm/.mim/{c}' for c in REPO_CONFIGS + MIM_TOOLS} | {'hrnet_mm/.mim/model-index.yml'} <= set(
            zf.namelist())


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
    assert {f'hrnet_mm/.mim/{c}' for c in REPO_CONFIGS + MIM_TOOLS} <= names  # every config and tool, as a file
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


# --- The wheel as a user gets it: a fresh venv that has torch and mmcv, the docs' install lines, then
# every packaged config, the synthetic demos and the inferencers from a folder outside the repository.

PACKAGED = sorted(p.relative_to(REPO / 'configs').as_posix() for p in (REPO / 'configs').glob('*/*.py'))
# The stack a user already has: torch and torchvision with what they depend on, borrowed from this
# environment (a .pth entry, after the venv's own site-packages) instead of installed again. mmcv
# comes from the documented `python -m hrnet_mm.rebuild mmcv` (its cached wheel for this torch).
BORROWED = ('torch', 'torchvision')
NEVER_BORROWED = {'pip', 'setuptools', 'wheel'}  # the venv's own: the wheel's pins decide them
INSTALL_DOC = REPO / 'docs' / 'install.md'
DEMOS = {  # library -> (demo config, data generator, its flags, --cfg-options for a 2-iteration run)
    'mmseg': ('hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py', 'make_seg_data',
              ['--train', '4', '--val', '2'], ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                                               'default_hooks.checkpoint.interval=2']),
    'mmpose': ('hrnet_pose/td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py', 'make_pose_data',
               ['--train', '4', '--val', '2'], ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                                                'default_hooks.checkpoint.interval=1']),
    'mmdet': ('hrnet_det/faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256.py', 'make_det_data',
              ['--train', '4', '--val', '2'], ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                                               'default_hooks.checkpoint.interval=2']),
    'mmpretrain': ('hrnet_cls/hrnet-w18s-v1-c_1xb32-1000it_synthetic-64x64.py', 'make_cls_data',
                   ['--train', '6', '--val', '6'], ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                                                    'default_hooks.checkpoint.interval=2']),
}
ANNOTATIONS = {'mmpose': 'annotations/person_keypoints_val.json', 'mmdet': 'annotations/instances_val.json'}


def _rebuild_mmcv_line() -> str:
    """The mmcv line of docs/install.md's first block (Install with pip)."""
    block = INSTALL_DOC.read_text().split('## Install with pip', 1)[1].split('```bash\n', 1)[1].split('```', 1)[0]
    found = [line.split('  #')[0].strip() for line in block.splitlines() if 'hrnet_mm.rebuild mmcv' in line]
    assert len(found) == 1, block
    return found[0]


def _install_lines() -> list:
    """The shell lines of docs/install.md's block that this test runs (marked in the doc)."""
    text = INSTALL_DOC.read_text()
    block = text.split('<!-- tests/test_packaging.py runs the lines of this block', 1)[1]
    block = block.split('```bash\n', 1)[1].split('```', 1)[0]
    return [line.split('  #')[0].strip() for line in block.splitlines() if line.strip()]


def _borrowed_stack(dest: Path) -> Path:
    """Links to the installed files of BORROWED and everything they require, in ``dest``."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    dest.mkdir()
    todo, seen = list(BORROWED), set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen or name in NEVER_BORROWED:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed here
        for req in map(Requirement, dist.requires or []):
            if req.marker is None or req.marker.evaluate({'extra': ''}):
                todo.append(req.name)
        for top in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith('..')}:
            if top != '__pycache__' and not (dest / top).exists():
                (dest / top).symlink_to(dist.locate_file(top))
    return dest


def _user_env(venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV')}
    env['PATH'] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return env


def _run(command, cwd: Path, env: dict, timeout: int = 900, shell: bool = False) -> str:
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, shell=shell,
                          executable='/bin/bash' if shell else None)
    shown = command if shell else ' '.join(map(str, command))
    failed = [line for line in proc.stdout.splitlines() if line.startswith('FAIL ')]  # config_builds' reports
    assert proc.returncode == 0, '\n'.join([shown, *failed, (proc.stdout + proc.stderr)[-4000:]])
    return proc.stdout + proc.stderr


def _last_checkpoint(work_dir: Path) -> Path:
    return Path((work_dir / 'last_checkpoint').read_text().strip())


INFER = textwrap.dedent("""\
    import json, sys
    import hrnet_mm  # the configs inherit hrnet_mm:: bases
    from mmseg.apis import MMSegInferencer
    from mmdet.apis import DetInferencer
    from mmpretrain import ImageClassificationInferencer
    cfg, ckpt, image = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
    # mmpretrain's inferencer builds its pipeline under whatever scope is current: first, as alone
    cls = ImageClassificationInferencer(model=cfg['mmpretrain'], pretrained=ckpt['mmpretrain'], device='cpu')
    print('CLS', len(cls(image['mmpretrain'])[0]['pred_scores']))
    seg = MMSegInferencer(model=cfg['mmseg'], weights=ckpt['mmseg'], device='cpu')(image['mmseg'])
    print('SEG', tuple(seg['predictions'].shape))
    det = DetInferencer(model=cfg['mmdet'], weights=ckpt['mmdet'], device='cpu')(image['mmdet'])
    print('DET', len(det['predictions'][0]['bboxes']) == len(det['predictions'][0]['scores']))
""")


# Runs hrnet-mm commands in one process (the installed wheel's cli.main) and reports each one's status
# and output; first writes a stock mmpretrain HRNet-W18 classifier's checkpoint for `convert`.
USER_PATH = textwrap.dedent("""\
    import contextlib, io, json, sys
    import torch
    from hrnet_mm.apis import build_model
    from hrnet_mm.cli import main
    torch.save({'state_dict': build_model('mmpretrain::hrnet/hrnet-w18_4xb32_in1k.py')[0].state_dict()},
               'stock_cls.pth')
    results = []
    for argv in json.loads(sys.argv[1]):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as stop:
                code = stop.code
        results.append(dict(argv=argv, code=code, out=out.getvalue(), err=err.getvalue()))
    with open(sys.argv[2], 'w') as f:  # not stdout: the libraries print there too
        json.dump(results, f)
""")
COMMANDS = ('train', 'test', 'infer', 'infer-pose', 'export', 'convert', 'publish', 'complexity')


def _user_path_calls(config: dict, checkpoint: dict, image: dict, options: dict, out: Path):
    """(argv, what stdout shows) of one real call per command but train (step 4), and (argv, what the one
    line on stderr says) of a user's mistakes: those a new user made, then more of the same kinds."""
    seg, seg_pth, seg_options = config['mmseg'], checkpoint['mmseg'], ['--cfg-options', *options['mmseg']]
    seg_onnx, pose_onnx = out / 'exports' / Path(seg_pth).with_suffix('.onnx').name, out / 'pose.onnx'
    cls_config = 'hrnet_cls/hrnet-w18-c_4xb32_in1k.py'
    (out / 'damaged.onnx').write_bytes(b'\x08\x07not a model')
    real = [
        (['complexity', 'w18'], 'GFLOPs'),
        (['export', seg, seg_pth, '--dynamic', '--out', f'{out / "exports"}/'], f'wrote {seg_onnx}'),
        (['export', config['mmpose'], checkpoint['mmpose'], '--out', str(pose_onnx)], f'wrote {pose_onnx}'),
        (['infer', seg, str(seg_onnx), image['mmseg'], '--out-dir', str(out / 'seg_vis')], 'seg_vis'),
        (['test', seg, seg_pth, *seg_options], 'mIoU'),
        (['test', seg, str(seg_onnx), *seg_options], 'mIoU'),
        (['publish', seg_pth, '--out', str(out / 'release.safetensors')], 'release'),
        (['convert', 'stock_cls.pth', str(out / 'converted.safetensors'), '--from', 'mmpretrain', '--config',
          cls_config], 'converted.safetensors'),
    ]
    mistakes = [  # found by a new user
        (['test', seg, checkpoint['mmpose'], *seg_options], 'does not fit'),
        (['infer', seg, str(pose_onnx), image['mmseg']], 'does not fit'),
        (['train', seg, '--dry-run', '--cfg-options', 'train_cfg.max_iter=4'], 'did you mean train_cfg.max_iters?'),
        (['train', seg, '--dry-run', '--cfg-options', 'trian_cfg.max_iters=4'], 'did you mean train_cfg.max_iters?'),
        (['train', seg, '--dry-run', '--cfg-options', 'model.backbone.archh=w18'], 'model.backbone.arch'),
        (['train', seg, '--dry-run', '--cfg-options', 'model.backbone.arch=w99'], 'w99'),
        (['train', seg, '--gpu', '2'], '--gpu'),
        (['infer', seg, str(seg_onnx), image['mmseg'], '--kpt-thr', '0.3'], 'applies to pose configs'),
    ] + [  # more of the same kinds
        (['trian', seg], 'invalid choice'),
        (['test', 'missing.py', seg_pth], 'missing.py'),
        (['test', seg, str(out / 'missing.pth')], 'missing.pth'),
        (['test', seg, str(seg_onnx), '--gpus', '2'], '--gpus'),
        (['infer', seg, str(seg_onnx), 'missing.png'], 'missing.png'),
        (['infer', seg, str(out / 'damaged.onnx'), image['mmseg']], 'damaged.onnx'),
        (['infer-pose', seg, seg_pth, image['mmseg']], 'is an mmseg config'),
        (['infer-pose', config['mmpose'], seg_pth, image['mmpose']], 'does not fit'),
        (['export', seg, str(out / 'missing.pth')], 'missing.pth'),
        (['export', seg, seg_pth, '--opset', '5'], 'opset'),
        (['export', config['mmpose'], seg_pth], 'does not fit'),
        (['complexity', 'w99'], 'w99'),
        (['publish', str(out / 'missing.pth')], 'missing.pth'),
        (['convert', 'stock_cls.pth', str(out / 'x.pth'), '--from', 'timm'], 'use --from mmpretrain'),
        (['train', seg, '--launcher', 'slurmm'], 'invalid choice'),
        (['train', seg, '--dry-run', '--cfg-options', 'optimizer.lr=0.1'],
         'did you mean optim_wrapper.optimizer.lr?'),
    ]
    return real, mistakes


@pytest.mark.slow
@pytest.mark.release
def test_installed_wheel_builds_trains_and_infers_outside_the_repo(tmp_path):
    """~10 min on 2 cores: the docs' install lines in a fresh venv (network for the extras, as set-up),
    every packaged config built through a user config, each synthetic demo trained two iterations
    by ``hrnet-mm train``, by the stock tool and (seg) by ``mim train``, one inferencer per library."""
    import cv2

    # 1. The wheel, from a copy of the sources, into dist/ of the folder the docs' lines run in.
    elsewhere = tmp_path / 'elsewhere'
    (elsewhere / 'dist').mkdir(parents=True)
    _run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', str(_source_copy(tmp_path)),
          '-w', str(elsewhere / 'dist')], cwd=tmp_path, env=dict(os.environ))

    # 2. A venv with torch, torchvision and mmcv; then the docs' lines, verbatim, with its pip.
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True, timeout=300)
    python = venv / 'bin' / 'python'
    purelib = 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
    site = Path(subprocess.check_output([str(python), '-c', purelib], text=True).strip())
    (site / 'zz_borrowed_stack.pth').write_text(f'{_borrowed_stack(tmp_path / "stack")}\n')
    env = _user_env(venv)
    lines = _install_lines()
    assert len(lines) == 4 and lines[0].startswith('pip install') and 'xtcocotools' in lines[2]
    _run(lines[0], cwd=elsewhere, env=env, shell=True)
    verdict = _run(_rebuild_mmcv_line(), cwd=elsewhere, env=env, shell=True, timeout=3600).strip().splitlines()[-1]
    assert verdict.startswith('mmcv 2.1.0') and verdict.endswith(': ok'), verdict
    _run(lines[1], cwd=elsewhere, env=env, shell=True)
    # activate(): the stack checks run when hrnet_mm first needs the stack, not at a bare import
    check = [str(python), '-c', 'import hrnet_mm; hrnet_mm.activate(); import xtcocotools._mask']
    before = subprocess.run(check[:2] + ['import hrnet_mm; hrnet_mm.activate()'], cwd=elsewhere, env=env,
                            capture_output=True, text=True)
    if subprocess.run(check, cwd=elsewhere, env=env, capture_output=True).returncode:
        # the published xtcocotools is built for numpy 1: import says so, in one line, with the docs' fix
        said = before.stderr.strip().splitlines()
        assert len(said) == 1 and said[0].endswith(f'fix: {lines[2]}'), before.stderr[-2000:]
        refused = subprocess.run(['hrnet-mm', 'train', DEMOS['mmpose'][0], '--dry-run'], cwd=elsewhere, env=env,
                                 capture_output=True, text=True)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        _run(lines[2], cwd=elsewhere, env=env, shell=True)
    _run(lines[3], cwd=elsewhere, env=env, shell=True)
    after = _run(check, cwd=elsewhere, env=env)
    assert 'hrnet_mm:' not in after  # nothing left to fix
    installed = _run([str(python), '-c', 'import hrnet_mm, setuptools, numpy; print(hrnet_mm.__file__, '
                      'setuptools.__version__, numpy.__version__)'], cwd=elsewhere, env=env).split()
    assert Path(installed[-3]).parent == site / 'hrnet_mm'  # the wheel's copy
    assert int(installed[-2].split('.')[0]) < 81 and tuple(map(int, installed[-1].split('.')[:2])) < (2, 4)

    # 3. Every packaged config, inherited by a user config, builds (runner, datasets, all parts).
    users = elsewhere / 'user_configs'
    users.mkdir()
    for name in PACKAGED:
        (users / Path(name).name).write_text(f"_base_ = 'hrnet_mm::{name}'\n")
    out = _run([str(python), '-m', 'hrnet_mm.testing.config_builds', *sorted(map(str, users.glob('*.py')))],
               cwd=elsewhere, env=env, timeout=1800)
    assert sum(line.startswith('ok ') for line in out.splitlines()) == len(PACKAGED) == len(REPO_CONFIGS)

    # 4. Each demo: data through `mim run`, two iterations through hrnet-mm train (user config) and
    #    through the stock tool (the packaged file itself); mim train and mim test for seg.
    config, checkpoint, image, data_options = {}, {}, {}, {}
    listed = _run(['mim', 'search', 'hrnet_mm'], cwd=elsewhere, env=env)
    assert all(Path(name).stem in listed for name in (d[0] for d in DEMOS.values()))
    for library, (demo, generator, flags, short) in DEMOS.items():
        data = elsewhere / 'data' / library
        _run(['mim', 'run', 'hrnet_mm', generator, '--root', str(data), *flags], cwd=elsewhere, env=env)
        options = short + [f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val', 'test')]
        options += [f'{split}_dataloader.batch_size=2' for split in ('train', 'val', 'test')]
        if library in ANNOTATIONS:
            options += [f'{split}_evaluator.ann_file={data / ANNOTATIONS[library]}' for split in ('val', 'test')]
        data_options[library] = options
        user = elsewhere / f'my_{library}.py'
        user.write_text(f"_base_ = 'hrnet_mm::{demo}'\n")
        ours = elsewhere / 'work' / f'{library}_hrnet_mm'
        _run(['hrnet-mm', 'train', str(user), '--work-dir', str(ours), '--cfg-options', *options], cwd=elsewhere,
             env=env)
        stock_tool = site / library / '.mim' / 'tools' / 'train.py'
        stock = elsewhere / 'work' / f'{library}_stock'
        _run([str(python), str(stock_tool), str(site / 'hrnet_mm' / '.mim' / 'configs' / demo), '--work-dir',
              str(stock), '--cfg-options', *options], cwd=elsewhere, env=env)
        for work_dir in (ours, stock):
            assert _last_checkpoint(work_dir).is_file(), work_dir
        config[library], checkpoint[library] = str(user), str(_last_checkpoint(ours))
        images = data / 'images' if (data / 'images').is_dir() else data / 'val'  # cls: one folder per class
        image[library] = str(sorted(images.rglob('*.png'))[0])
        if library == 'mmseg':
            by_mim = elsewhere / 'work' / 'seg_mim'
            log = _run(['mim', 'train', 'hrnet_mm', str(user), '--work-dir', str(by_mim), '--cfg-options', *options],
                       cwd=elsewhere, env=env)
            assert 'Training finished successfully' in log and _last_checkpoint(by_mim).is_file()
            log = _run(['mim', 'test', 'hrnet_mm', Path(demo).name, '--checkpoint', str(_last_checkpoint(by_mim)),
                        '--work-dir', str(by_mim), '--cfg-options', *options], cwd=elsewhere, env=env)
            assert 'mIoU' in log and 'Testing finished successfully' in log

    # 5. One inferencer per library on what hrnet-mm train wrote.
    out = _run([str(python), '-c', INFER, *(json.dumps(d) for d in (config, checkpoint, image))], cwd=elsewhere,
               env=env)
    seg_image = cv2.imread(image['mmseg'])
    assert f'SEG {seg_image.shape[:2]}' in out and 'DET True' in out and 'CLS 6' in out
    out = _run(['hrnet-mm', 'infer-pose', config['mmpose'], checkpoint['mmpose'], image['mmpose'], '--out-dir',
                str(elsewhere / 'pose_vis')], cwd=elsewhere, env=env)
    assert '1 person(s)' in out and any((elsewhere / 'pose_vis' / 'visualizations').iterdir())

    # 6. Each command's help (no torch needed), one real call of each, and a user's mistakes: each real
    #    call shows its result with status 0, each mistake is one line on stderr with status 2.
    for argv in (['--help'], *([command, '--help'] for command in COMMANDS)):
        shown = _run(['hrnet-mm', *argv], cwd=elsewhere, env=env)
        assert shown.startswith('usage: hrnet-mm'), (argv, shown[:300])
    _run('pip install "$(ls dist/hrnet_mm-*.whl)[deploy]"', cwd=elsewhere, env=env, shell=True)  # docs/deploy.md
    real, mistakes = _user_path_calls(config, checkpoint, image, data_options, elsewhere)
    calls = [argv for argv, _ in real + mistakes]
    report = elsewhere / 'user_path.json'
    out = _run([str(python), '-c', USER_PATH, json.dumps(calls), str(report)], cwd=elsewhere, env=env, timeout=1800)
    results = json.loads(report.read_text())
    for (argv, shows), result in zip(real, results):  # `test CONFIG x.pth` runs the stock tool: its own output
        assert result['code'] == 0 and (shows in result['out'] + result['err'] or argv[0] == 'test' and shows in out), \
            (argv, result)
    for (argv, says), result in zip(mistakes, results[len(real):]):
        lines = result['err'].strip().splitlines()
        assert result['code'] == 2 and len(lines) == 1 and says in lines[0], (argv, result)
