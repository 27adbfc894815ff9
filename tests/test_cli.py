import argparse
import textwrap
from pathlib import Path

import pytest

from hrnet_mm.cli import build_parser
from hrnet_mm.tools_cli import build_command, library_of, prepare_config

REPO = Path(__file__).resolve().parents[1]
CITYSCAPES_W18 = str(REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18_4xb2-40k_cityscapes-512x1024.py')


def _args(argv):
    return build_parser().parse_args(argv)


def test_train_runs_the_owning_library_tool_in_one_process(tmp_path):
    command = build_command(_args(['train', CITYSCAPES_W18, '--work-dir', str(tmp_path), '--resume']), 'train')
    assert command[1:3] == ['-m', 'hrnet_mm.launch']
    assert command[3].endswith('mmseg/.mim/tools/train.py') and Path(command[3]).exists()
    assert '--resume' in command and '--launcher' not in command


def test_cpu_run_switches_syncbn_to_bn_in_a_copy(tmp_path):
    with pytest.warns(UserWarning, match='SyncBN is switched to BN'):
        config = prepare_config(CITYSCAPES_W18, str(tmp_path), cuda=False)
    text = Path(config).read_text()
    assert "'SyncBN'" not in text and "type='BN'" in text and 'hrnet_mm.HRNet' in text
    assert prepare_config(CITYSCAPES_W18, str(tmp_path), cuda=True) == CITYSCAPES_W18


def test_multi_process_uses_torchrun_and_gloo_without_cuda(tmp_path):
    argv = ['train', CITYSCAPES_W18, '--work-dir', str(tmp_path), '--gpus', '2', '--nnodes', '2', '--node-rank', '1',
            '--master-addr', '10.0.0.1', '--master-port', '29555', '--cfg-options', 'train_cfg.max_iters=10']
    command = build_command(_args(argv), 'train')
    assert command[1:3] == ['-m', 'torch.distributed.run']
    for flag in ('--nproc_per_node=2', '--nnodes=2', '--node_rank=1', '--master_addr=10.0.0.1',
                 '--master_port=29555'):
        assert flag in command
    assert command[command.index('--launcher') + 1] == 'pytorch'
    options = command[command.index('--cfg-options') + 1:]
    assert 'train_cfg.max_iters=10' in options and 'env_cfg.dist_cfg.backend=gloo' in options


def test_resume_from_a_file_per_library(tmp_path):
    seg = build_command(_args(['train', CITYSCAPES_W18, '--work-dir', str(tmp_path), '--resume', 'a.pth']), 'train')
    assert '--resume' in seg and 'load_from=a.pth' in seg  # mmseg's --resume is a flag


def test_test_command_passes_checkpoint_and_show_dir(tmp_path):
    command = build_command(_args(['test', CITYSCAPES_W18, 'ck.pth', '--work-dir', str(tmp_path),
                                   '--show-dir', 'vis']), 'test')
    assert command[3].endswith('mmseg/.mim/tools/test.py')
    assert command[5] == 'ck.pth' and command[command.index('--show-dir') + 1] == 'vis'


def test_config_without_a_known_scope_is_refused(tmp_path):
    config = tmp_path / 'bare.py'
    config.write_text(textwrap.dedent("""
        model = dict(type='hrnet_mm.HRNet')
    """))
    from mmengine.config import Config
    with pytest.raises(ValueError, match='default_scope must be one of'):
        library_of(Config.fromfile(str(config)))


def test_dry_run_prints_and_returns_zero(capsys, tmp_path):
    args = _args(['train', CITYSCAPES_W18, '--work-dir', str(tmp_path), '--dry-run'])
    assert isinstance(args, argparse.Namespace) and args.func(args) == 0
    assert 'mmseg/.mim/tools/train.py' in capsys.readouterr().out
