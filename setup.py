"""hrnet_mm: HRNet for OpenMMLab 2.x (mmseg / mmpose / mmdet) as a pip-installable plugin."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r"__version__ = '([^']+)'", (HERE / 'hrnet_mm' / 'version.py').read_text()).group(1)

# torch, torchvision and mmcv are deliberately not listed: installing the plugin into an existing
# OpenMMLab environment must never replace the user's (often CUDA-specific) builds.
# Ranges are the ones tools/setup_env.sh installs and the test suite runs against.
EXTRAS = {
    'seg': ['mmsegmentation>=1.2.2,<1.3', 'ftfy', 'regex'],
    'det': ['mmdet>=3.3.0,<3.4'],
    # mmpose itself is installed --no-deps (its chumpy dependency does not build); see README.
    'pose': ['json_tricks', 'munkres', 'xtcocotools>=1.12', 'scipy'],
    'dev': ['pytest', 'pytest-xdist', 'ruff', 'mypy', 'timm', 'onnx', 'onnxruntime', 'tensorboard'],
}
EXTRAS['all'] = sorted({req for key in ('seg', 'det', 'pose') for req in EXTRAS[key]})

setup(
    name='hrnet_mm',
    version=VERSION,
    description='HRNet (TPAMI 2020) backbone, fusion blocks and V1/V2/V2p necks for OpenMMLab 2.x',
    long_description=(HERE / 'README.md').read_text() if (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['hrnet_mm', 'hrnet_mm.*']),
    package_data={'hrnet_mm': ['data/*.json']},
    install_requires=['mmengine>=0.10.4,<0.11', 'numpy>=1.23'],
    extras_require=EXTRAS,
    entry_points={'console_scripts': ['hrnet-mm=hrnet_mm.cli:main']},
    classifiers=['Programming Language :: Python :: 3', 'License :: OSI Approved :: Apache Software License'],
)
