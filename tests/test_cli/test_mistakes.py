"""Every hrnet-mm subcommand that takes files: a missing file, a wrong config name and a damaged
checkpoint each end in one line on stderr and exit status 2 (no traceback); help is written for users."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hrnet_mm.cli import build_parser, main
from hrnet_mm.testing.cli import one_line_cli_error

REPO = Path(__file__).resolve().parents[2]
SEG = 'hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'  # packaged names
POSE = 'hrnet_pose/td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py'
CLS = 'hrnet_cls/hrnet-w18s-v1-c_1xb32-1000it_synthetic-64x64.py'


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A folder outside the repository with a good checkpoint, a truncated copy and an image."""
    monkeypatch.chdir(tmp_path)
    torch.save({'state_dict': {'w': torch.ones(1000)}, 'meta': {}}, 'good.pth')
    data = Path('good.pth').read_bytes()
    Path('damaged.pth').write_bytes(data[:len(data) // 2])
    import cv2
    import numpy as np
    cv2.imwrite('person.png', np.full((64, 48, 3), 128, np.uint8))
    return tmp_path




MISTAKES = {
    'train': [
        (['train', 'missing.py'], 'config missing.py not found'),
        (['train', 'hrnet_seg/no-such-config.py'], 'config hrnet_seg/no-such-config.py not found'),
        (['train', 'hrnet_mm::hrnet_seg/no-such-config.py'], 'not found'),
        (['train', SEG, '--resume', 'damaged.pth', '--dry-run'], 'damaged.pth'),
        (['train', SEG, '--resume', 'missing.pth', '--dry-run'], 'missing.pth'),
        (['train', SEG, '--cfg-options', 'foo', '--dry-run'], "expected KEY=VALUE such as train_cfg.max_iters=100, "
                                                              "got 'foo'"),
        (['train', SEG, '--cfg-options', 'train_cfg.max_iters.depth=3', '--dry-run'],
         '--cfg-options train_cfg.max_iters.depth=3: '),
    ],
    'test': [
        (['test', 'missing.py', 'good.pth'], 'config missing.py not found'),
        (['test', 'hrnet_seg/no-such-config.py', 'good.pth'], 'not found'),
        (['test', SEG, 'missing.pth'], 'missing.pth'),
        (['test', SEG, 'damaged.pth'], 'damaged.pth'),
    ],
    'infer-pose': [
        (['infer-pose', 'missing.py', 'good.pth', 'person.png'], 'config missing.py not found'),
        (['infer-pose', 'hrnet_pose/no-such-config.py', 'good.pth', 'person.png'], 'not found'),
        (['infer-pose', SEG, 'good.pth', 'person.png'], f'config {SEG} is an mmseg config'),
        (['infer-pose', POSE, 'missing.pth', 'person.png'], 'missing.pth'),
        (['infer-pose', POSE, 'damaged.pth', 'person.png'], 'damaged.pth'),
        (['infer-pose', POSE, 'good.pth', 'missing.png'], 'image missing.png does not exist'),
    ],
    'convert': [
        (['convert', 'missing.pth', 'out.pth', '--from', 'timm'], 'missing.pth'),
        (['convert', 'damaged.pth', 'out.pth', '--from', 'timm'], 'damaged.pth'),
        (['convert', 'good.pth', 'out.pth', '--from', 'timm', '--config', 'hrnet_cls/no-such-config.py'],
         'config hrnet_cls/no-such-config.py not found'),
        (['convert', 'good.pth', 'out.pth', '--from', 'tim'], "argument --from: invalid choice: 'tim'"),
    ],
    'publish': [
        (['publish', 'missing.pth'], 'missing.pth'),
        (['publish', 'damaged.pth'], 'damaged.pth'),
    ],
    'complexity': [
        (['complexity', 'w17'], 'arch must be one of'),
        (['complexity', 'w32', '--input', '16x16'], 'must be >= 32'),
    ],
}


@pytest.mark.parametrize('argv, expected', [case for cases in MISTAKES.values() for case in cases],
                         ids=[f'{name}-{i}' for name, cases in MISTAKES.items() for i in range(len(cases))])
def test_plain_mistakes_end_in_one_line_and_exit_2(argv, expected, files, capsys):
    err = one_line_cli_error(argv, capsys)
    assert err.startswith(f'hrnet-mm {argv[0]}')
    assert expected in err
    assert not Path('out.pth').exists()  # convert wrote nothing


def test_every_subcommand_with_files_is_covered():
    subcommands = {action.dest for action in build_parser()._subparsers._group_actions[0]._choices_actions}
    # export's and infer's mistakes are tested with them (tests/test_apis/test_export.py, test_runtime.py)
    assert subcommands - {'export', 'infer'} == set(MISTAKES)


def test_packaged_names_reach_the_tools(files, capsys):
    assert main(['train', SEG, '--dry-run', '--cfg-options', 'train_cfg.max_iters=2']) == 0
    out = capsys.readouterr().out
    assert f'.mim/configs/{SEG}' in out and 'train_cfg.max_iters=2' in out
    from hrnet_mm.testing.exports import save_random_checkpoint
    checkpoint = save_random_checkpoint('hrnet_mm::' + CLS, 'cls.pth')  # test checks it was made for the config
    assert main(['test', 'hrnet_mm::' + CLS, checkpoint, '--dry-run']) == 0
    assert 'mmpretrain/.mim/tools/test.py' in capsys.readouterr().out


def test_help_is_written_for_users(capsys):
    with pytest.raises(SystemExit):
        main(['--help'])
    top = capsys.readouterr().out
    assert 'examples:' in top and 'hrnet-mm train hrnet_seg/' in top
    parser = build_parser()
    for name, sub in parser._subparsers._group_actions[0].choices.items():
        if name == 'export':
            continue
        text = sub.format_help()
        assert sub.description and 'example' in sub.epilog, name
        assert f'hrnet-mm {name} ' in sub.epilog, name  # the example runs this command
        undocumented = [a.dest for a in sub._actions if not a.help]
        assert not undocumented, (name, undocumented)
        assert len(text.splitlines()) > 8, name
    train = parser._subparsers._group_actions[0].choices['train'].format_help()
    for flag in ('--nnodes', '--node-rank', '--master-addr', '--master-port', '--gpus', '--launcher'):
        assert flag in train
    assert 'several processes and nodes' in train and '--node-rank 1' in train


def _tool(script: str, *args: str, cwd: Path):
    env_path = f'{REPO}'  # the tools import this checkout's hrnet_mm, as the installed copy would
    return subprocess.run([sys.executable, str(REPO / 'tools' / script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**__import__('os').environ, 'PYTHONPATH': env_path})


def test_mim_tools_help_and_mistakes(tmp_path):
    proc = _tool('train.py', '-h', cwd=tmp_path)
    assert proc.returncode == 0 and 'usage: train.py CONFIG' in proc.stdout
    assert '--gpus' not in proc.stdout  # mim adds --gpus/--device to tools whose help offers them
    proc = _tool('test.py', 'hrnet_seg/no-such-config.py', 'x.pth', cwd=tmp_path)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and 'config hrnet_seg/no-such-config.py not found' in err[0]
