"""A checkpoint or exported file made for another model than the config's is refused by ``test``,
``infer``, ``infer-pose`` and ``export`` before anything runs: one line saying what differs (task,
classes, keypoints, image channels, HRNet widths), exit status 2, nothing written."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from hrnet_mm.apis import export_onnx
from hrnet_mm.cli import main
from hrnet_mm.testing.cli import one_line_cli_error
from hrnet_mm.testing.exports import save_random_checkpoint

REPO = Path(__file__).resolve().parents[2]
SEG = str(REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py')
POSE = str(REPO / 'configs' / 'hrnet_pose' / 'td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py')
# Configs that differ from the demos in one trait each: name -> (base, model overrides).
VARIANTS = {
    'seg_classes': (SEG, "dict(decode_head=dict(num_classes=4))"),
    'seg_channels': (SEG, "dict(backbone=dict(in_channels=4))"),
    'seg_width': (SEG, "dict(backbone=dict(arch='w18-small-v2'), decode_head=dict(in_channels=[18, 36, 72, 144], "
                       "channels=270))"),
    'pose_keypoints': (POSE, "dict(head=dict(out_channels=5))"),
    'pose_channels': (POSE, "dict(backbone=dict(in_channels=4))"),
    'pose_width': (POSE, "dict(backbone=dict(arch='w18-small-v1'), head=dict(in_channels=16))"),
}
# (what differs, config, the demo whose files are given, what the line says); the demos: 6 classes,
# w18-small-v1 (16/32/64/128) for seg; 17 keypoints, w18-small-v2 (18/36/72/144) for pose.
SEG_CONFIG_CASES = [
    ('task', 'seg', 'pose', 'it is a pose model of 17 keypoints, the config a segmentation model of 6 classes'),
    ('classes', 'seg_classes', 'seg', 'it predicts 6 classes, the config 4'),
    ('channels', 'seg_channels', 'seg', 'it takes 3-channel images, the config 4-channel ones'),
    ('width', 'seg_width', 'seg', "its HRNet branches are 16/32/64/128 wide, the config's 18/36/72/144"),
]
POSE_CONFIG_CASES = [
    ('task', 'pose', 'seg', 'it is a segmentation model of 6 classes, the config a pose model of 17 keypoints'),
    ('keypoints', 'pose_keypoints', 'pose', 'it predicts 17 keypoints, the config 5'),
    ('channels', 'pose_channels', 'pose', 'it takes 3-channel images, the config 4-channel ones'),
    ('width', 'pose_width', 'pose', "its HRNet branches are 18/36/72/144 wide, the config's 16/32/64/128"),
]
ALL_CASES = SEG_CONFIG_CASES + POSE_CONFIG_CASES[1:]


@pytest.fixture(scope='module')
def made(tmp_path_factory):
    """The demos' random-weight checkpoints and dynamic ONNX exports, the variant configs and an image."""
    root = tmp_path_factory.mktemp('fit')
    files = {'configs': {'seg': SEG, 'pose': POSE}}
    for demo, config, size in (('seg', SEG, (64, 64)), ('pose', POSE, (128, 96))):
        checkpoint = save_random_checkpoint(config, root / f'{demo}.pth')
        files[f'{demo}.pth'] = checkpoint
        files[f'{demo}.onnx'] = str(export_onnx(config, checkpoint, root / f'{demo}.onnx', (1, 3, *size),
                                                dynamic=True, verify=False))
    for name, (base, model) in VARIANTS.items():
        path = root / f'{name}.py'
        path.write_text(f"_base_ = ['{base}']\nmodel = {model}\n")
        files['configs'][name] = str(path)
    cv2.imwrite(str(root / 'person.png'), np.full((64, 48, 3), 128, np.uint8))
    files['image'] = str(root / 'person.png')
    return files


def _argv(command: str, config: str, model: str, image: str, out: Path) -> list:
    return {
        'test': ['test', config, model, '--work-dir', str(out)],
        'infer': ['infer', config, model, image, '--out-dir', str(out)],
        'infer-pose': ['infer-pose', config, model, image, '--out-dir', str(out)],
        'export': ['export', config, model, '--out', str(out / 'model.onnx')],
    }[command]


def _cases(command: str, suffixes=('pth', 'onnx')):
    cases = POSE_CONFIG_CASES if command == 'infer-pose' else ALL_CASES
    return [pytest.param(command, *case, suffix, id=f'{command}-{case[0]}-{case[1]}-{suffix}')
            for case in cases for suffix in suffixes]


@pytest.mark.parametrize('command, trait, config, demo, said, suffix',
                         _cases('test') + _cases('infer') + _cases('infer-pose') + _cases('export', ('pth',)))
def test_a_file_of_another_model_is_one_line_exit_2_and_nothing_written(command, trait, config, demo, said, suffix,
                                                                         made, tmp_path, capsys):
    out = tmp_path / 'out'
    config_file = made['configs'][config]
    err = one_line_cli_error(_argv(command, config_file, made[f'{demo}.{suffix}'], made['image'], out), capsys)
    assert err.startswith(f'hrnet-mm {command}: {demo}.{suffix} does not fit {Path(config_file).name}: ')
    assert said in err and len(err) < 300
    assert not out.exists()


@pytest.mark.parametrize('suffix', ['pth', 'onnx'])
def test_the_files_of_the_config_pass_the_check(suffix, made, tmp_path, capsys):
    # the runs themselves are tested with each command (tests/test_apis/); here: the check lets them start
    status = main(['test', SEG, made[f'seg.{suffix}'], '--dry-run', '--work-dir', str(tmp_path / 'out')])
    out = capsys.readouterr().out
    assert status == 0
    assert ('would evaluate seg.onnx' in out) if suffix == 'onnx' else ('mmseg/.mim/tools/test.py' in out)
    assert not (tmp_path / 'out').exists()
