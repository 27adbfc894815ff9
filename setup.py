"""hrnet_mm: HRNet for OpenMMLab 2.x (mmseg / mmpose / mmdet) as a pip-installable plugin."""
import os
import re
import shutil
import sys
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r"__version__ = '([^']+)'", (HERE / 'hrnet_mm' / 'version.py').read_text()).group(1)

# What ships under hrnet_mm/.mim/, as in OpenMMLab wheels: mmengine resolves
# `_base_ = 'hrnet_mm::hrnet_seg/<name>.py'` to <installed hrnet_mm>/.mim/configs/hrnet_seg/<name>.py and
# reads <installed hrnet_mm>/.mim/model-index.yml first; `mim train|test hrnet_mm CONFIG` runs
# .mim/tools/train.py|test.py and `mim run hrnet_mm make_seg_data` the data generators.
MIM_TOOLS = ('train.py', 'test.py', 'make_seg_data.py', 'make_pose_data.py', 'make_det_data.py', 'make_cls_data.py',
             'make_face_data.py')
MIM_ITEMS = ('configs', 'model-index.yml') + tuple(f'tools/{name}' for name in MIM_TOOLS)


def populate_mim(argv) -> None:
    """Fill ``hrnet_mm/.mim`` from the repository before setuptools collects the package data.

    Editable installs (``pip install -e .``: ``editable_wheel``; legacy ``develop``) get relative
    symlinks, so edits to ``configs/`` show up at once. Wheel builds and plain installs get the
    files: stale copies are refreshed, while symlinks are left in place (setuptools copies the files
    they point to into the wheel). Other commands (``egg_info``, ``sdist``, ...) change nothing; the
    sdist carries ``configs/`` at its top level (MANIFEST.in) and builds ``.mim`` again from there.
    """
    link = any(cmd in argv for cmd in ('develop', 'editable_wheel'))
    copy = any(cmd in argv for cmd in ('bdist_wheel', 'build', 'build_py', 'install'))
    if not (link or copy):
        return
    mim = HERE / 'hrnet_mm' / '.mim'
    for name in MIM_ITEMS:
        src, dst = HERE / name, mim / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not src.exists():
            raise FileNotFoundError(f'{src} is missing: it ships in hrnet_mm/.mim')
        if dst.is_symlink():
            if dst.resolve() == src.resolve():
                continue  # linked already; a wheel build copies the files it points to
            dst.unlink()
        elif dst.is_dir():
            shutil.rmtree(dst)
        elif dst.exists():
            dst.unlink()
        if link:
            try:
                os.symlink(os.path.relpath(src, dst.parent), dst, target_is_directory=src.is_dir())
                continue
            except OSError:  # no symlinks here (e.g. Windows without the privilege): copy instead
                pass
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


populate_mim(sys.argv[1:])

# torch, torchvision and mmcv are deliberately not listed: installing the plugin into an existing
# OpenMMLab environment must never replace the user's (often CUDA-specific) builds. Ranges are the
# ones tools/setup_env.sh installs and the test suite runs against; hrnet_mm/environment.py checks,
# at import, what cannot be pinned here (a numpy-2 build of xtcocotools).
INSTALL_REQUIRES = [
    'mmengine>=0.10.4,<0.11',
    'numpy>=1.23,<2.4',  # mmpose 1.3's keypoint drawing calls int() on 1-element arrays, an error from 2.4
    'setuptools<81',  # pkg_resources: mmengine resolves `mmseg::` configs with it, mim imports it
]
EXTRAS = {
    'seg': ['mmsegmentation>=1.2.2,<1.3', 'ftfy', 'regex'],
    'det': ['mmdet>=3.3.0,<3.4'],
    # mmpose itself is installed --no-deps (its chumpy dependency does not build); see README.
    # xtcocotools has no wheel for Python 3.13 and its source needs a patch there: `python -m hrnet_mm.rebuild
    # xtcocotools` (which hrnet_mm names at import when it is missing or built for another numpy)
    'pose': ['json_tricks', 'munkres', 'xtcocotools>=1.12; python_version < "3.13"', 'scipy'],
    'cls': ['mmpretrain>=1.2.0,<1.3'],
    # `hrnet-mm export` (onnx; onnxruntime checks the file), `hrnet-mm infer` (either engine); docs/deploy.md
    'deploy': ['onnx', 'onnxruntime', 'openvino'],
}
EXTRAS['dev'] = ['pytest', 'pytest-xdist', 'ruff', 'mypy', 'timm', 'tensorboard', 'torchao', *EXTRAS['deploy']]
EXTRAS['all'] = sorted({req for key in ('seg', 'det', 'pose', 'cls') for req in EXTRAS[key]})

setup(
    name='hrnet_mm',
    version=VERSION,
    description='HRNet (TPAMI 2020) backbone, fusion blocks and V1/V2/V2p necks for OpenMMLab 2.x',
    long_description=(HERE / 'README.md').read_text() if (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['hrnet_mm', 'hrnet_mm.*']),
    package_data={'hrnet_mm': ['data/*.json', '.mim/model-index.yml', '.mim/configs/*/*.py',
                               '.mim/configs/*/*.yml', '.mim/configs/*/*.md', '.mim/tools/*.py']},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={'console_scripts': ['hrnet-mm=hrnet_mm.cli:main']},
    classifiers=['Programming Language :: Python :: 3', 'License :: OSI Approved :: Apache Software License'],
)
