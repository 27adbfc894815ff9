"""hrnet-mm starts without the heavy stack: help and usage errors import neither torch nor mmcv, and a
missing piece of the stack is one line naming the command that installs it."""
import json
import subprocess
import sys

import pytest

SEG = 'hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'
POSE = 'hrnet_pose/td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py'
HEAVY = ('torch', 'mmcv', 'cv2', 'mmseg', 'mmpose', 'mmdet', 'mmpretrain', 'onnx', 'onnxruntime', 'openvino')
COMMANDS = {'train', 'test', 'infer-pose', 'export', 'infer', 'convert', 'publish', 'complexity'}

# Runs hrnet-mm in one process per argv list, with the modules named in BLOCKED made unimportable
# (None in sys.modules: `import x` raises ModuleNotFoundError naming x, as when it is not installed).
DRIVER = """
import json, sys
blocked, argv = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name in blocked:
    sys.modules[name] = None
from hrnet_mm.cli import main
try:
    code = main(argv)
except SystemExit as stop:
    code = stop.code
print(json.dumps(dict(code=code, heavy=[m for m in json.loads(sys.argv[3]) if sys.modules.get(m) is not None])),
      file=sys.__stdout__)
"""


def _hrnet_mm(argv, blocked=(), cwd=None):
    proc = subprocess.run([sys.executable, '-c', DRIVER, json.dumps(list(blocked)), json.dumps(argv),
                           json.dumps(HEAVY)], capture_output=True, text=True, timeout=600, cwd=cwd)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return report['code'], report['heavy'], proc.stderr


def test_every_command_is_listed():
    from hrnet_mm.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == 'command')
    assert set(sub.choices) == COMMANDS


@pytest.mark.parametrize('argv', [['--help'], *([command, '--help'] for command in sorted(COMMANDS))],
                         ids=lambda argv: ' '.join(argv))
def test_help_imports_no_heavy_module(argv):
    code, heavy, stderr = _hrnet_mm(argv)
    assert code == 0 and heavy == [] and stderr == ''


@pytest.mark.parametrize('argv', [
    [],                                            # no command
    ['trian', SEG],                                # a misspelt command
    ['train'],                                     # no config
    ['train', SEG, '--gpu', '2'],                  # an abbreviation of --gpus: refused, not guessed
    ['test', SEG, 'x.pth', '--laun', 'slurm'],     # of --launcher
    ['infer', SEG],                                # no model, no image
    ['export', SEG, 'x.pth', '--opset', 'seventeen'],
    ['complexity', 'w32', '--input', '256'],
    ['publish'],
], ids=lambda argv: ' '.join(argv) or 'nothing')
def test_usage_errors_are_one_line_without_heavy_modules(argv):
    code, heavy, stderr = _hrnet_mm(argv)
    assert code == 2 and heavy == []
    assert len(stderr.strip().splitlines()) == 1 and 'error' in stderr, stderr


@pytest.mark.parametrize('blocked, argv, installer', [
    (['mmcv'], ['complexity', 'w18'], 'python -m hrnet_mm.rebuild mmcv'),
    (['tensorboard'], ['train', SEG, '--tensorboard', '--dry-run'], 'pip install tensorboard'),
    (['mmseg'], ['train', SEG, '--dry-run'], "pip install 'hrnet_mm[seg]'"),
    (['xtcocotools'], ['train', POSE, '--dry-run'], 'python -m hrnet_mm.rebuild xtcocotools'),
], ids=lambda value: value[0] if isinstance(value, list) and len(value) == 1 else None)
def test_a_missing_piece_of_the_stack_is_one_line_naming_its_installer(blocked, argv, installer, tmp_path):
    code, _, stderr = _hrnet_mm(argv, blocked, cwd=tmp_path)
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1, stderr
    assert blocked[0] in lines[0] and installer in lines[0], lines[0]
