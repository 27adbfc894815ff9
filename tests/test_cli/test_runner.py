import argparse
import textwrap
from pathlib import Path

import pytest
import torch

from hrnet_mm.apis import library_of
from hrnet_mm.cli import build_parser
from hrnet_mm.cli.runner import build_command, run_config
from hrnet_mm.testing.cli import one_line_cli_error

REPO = Path(__file__).resolve().parents[2]
CITYSCAPES_W18 = str(REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18_4xb2-40k_cityscapes-512x1024.py')


def _args(argv):
    return build_parser().parse_args(argv)


def test_train_runs_the_owning_library_tool_in_one_process(tmp_path):
    command = build_command(_args(['train', CITYSCAPES_W18, '--work-dir', str(tmp_path), '--resume']), 'train')
    assert command[1:3] == ['-m', 'hrnet_mm.launch']
    assert command[3].endswith('mmseg/.mim/tools/train.py') and Path(command[3]).exists()
    assert '--resume' in command and '--launcher' not in command


def test_cpu_run_switches_syncbn_to_bn_in_a_copy(tmp_path, capsys):
    args = _args(['train', CITYSCAPES_W18])
    config = run_config(args, str(tmp_path), cuda=False)
    assert 'SyncBN is switched to BN' in capsys.readouterr().err
    text = Path(config).read_text()
    assert "'SyncBN'" not in text and "type='BN'" in text and 'hrnet_mm.HRNet' in text
    assert run_config(args, str(tmp_path), cuda=True) == CITYSCAPES_W18


MULTI_PROCESS = ['--gpus', '2', '--nnodes', '2', '--node-rank', '1', '--master-addr', '10.0.0.1', '--master-port',
                 '29555', '--cfg-options', 'train_cfg.max_iters=10']


def test_multi_process_uses_torchrun_and_gloo_without_cuda(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    command = build_command(_args(['train', CITYSCAPES_W18, '--work-dir', str(tmp_path), *MULTI_PROCESS]), 'train')
    assert command[1:3] == ['-m', 'torch.distributed.run']
    for flag in ('--nproc_per_node=2', '--nnodes=2', '--node_rank=1', '--master_addr=10.0.0.1',
                 '--master_port=29555'):
        assert flag in command
    assert command[command.index('--launcher') + 1] == 'pytorch'
    options = command[command.index('--cfg-options') + 1:]
    assert 'train_cfg.max_iters=10' in options and 'env_cfg.dist_cfg.backend=gloo' in options


def test_multi_process_with_cuda_keeps_the_configs_backend_and_device_ids(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    command = build_command(_args(['train', CITYSCAPES_W18, '--work-dir', str(tmp_path), *MULTI_PROCESS]), 'train')
    assert command[1:3] == ['-m', 'torch.distributed.run'] and '--nproc_per_node=2' in command
    options = command[command.index('--cfg-options') + 1:]
    assert options == ['train_cfg.max_iters=10']  # NCCL and one device per process, as the config says


def test_resume_from_a_file_per_library(tmp_path):
    seg = build_command(_args(['train', CITYSCAPES_W18, '--work-dir', str(tmp_path), '--resume', 'a.pth']), 'train')
    assert '--resume' in seg and 'load_from=a.pth' in seg  # mmseg's --resume is a flag


def test_test_command_passes_checkpoint_and_show_dir(tmp_path):
    command = build_command(_args(['test', CITYSCAPES_W18, 'ck.pth', '--work-dir', str(tmp_path),
                                   '--show-dir', 'vis']), 'test')
    assert command[3].endswith('mmseg/.mim/tools/test.py')
    assert command[5] == 'ck.pth'
    assert command[command.index('--show-dir') + 1] == str((tmp_path / 'vis').resolve())  # inside the work dir


def test_config_without_a_known_scope_is_refused(tmp_path):
    config = tmp_path / 'bare.py'
    config.write_text(textwrap.dedent("""
        model = dict(type='hrnet_mm.HRNet')
    """))
    from mmengine.config import Config
    with pytest.raises(ValueError, match='default_scope must be one of'):
        library_of(Config.fromfile(str(config)))


def test_dry_run_prints_and_writes_nothing(capsys, tmp_path):
    work_dir = tmp_path / 'work'
    args = _args(['train', CITYSCAPES_W18, '--work-dir', str(work_dir), '--dry-run', '--tensorboard'])
    assert isinstance(args, argparse.Namespace) and args.run(args) == 0
    out = capsys.readouterr().out
    run_copy = work_dir / 'fcn_hrnetv2-w18_4xb2-40k_cityscapes-512x1024_run.py'
    assert 'mmseg/.mim/tools/train.py' in out and str(run_copy) in out
    assert not work_dir.exists()


def test_tensorboard_flag_adds_the_backend_to_the_run_config(tmp_path):
    config = run_config(_args(['train', CITYSCAPES_W18, '--tensorboard']), str(tmp_path), cuda=True)
    from mmengine.config import Config
    backends = [b['type'] for b in Config.fromfile(config).visualizer.vis_backends]
    assert backends == ['LocalVisBackend', 'TensorboardVisBackend']


def test_slurm_launcher_passes_through_without_torchrun(tmp_path, monkeypatch):
    monkeypatch.setenv('SLURM_PROCID', '0')  # as srun sets it for each task
    command = build_command(_args(['train', CITYSCAPES_W18, '--work-dir', str(tmp_path), '--launcher', 'slurm']),
                            'train')
    assert command[1:3] == ['-m', 'hrnet_mm.launch'] and 'torch.distributed.run' not in command
    assert command[command.index('--launcher') + 1] == 'slurm'
    with pytest.raises(ValueError, match='drop --gpus, --nnodes and --node-rank'):
        build_command(_args(['train', CITYSCAPES_W18, '--launcher', 'slurm', '--gpus', '4']), 'train')
    monkeypatch.delenv('SLURM_PROCID')
    with pytest.raises(ValueError, match='runs under srun'):
        build_command(_args(['train', CITYSCAPES_W18, '--launcher', 'slurm']), 'train')




@pytest.mark.parametrize('argv, expected', [
    (['train', 'no/such/config.py'], 'config no/such/config.py not found: looked at'),
    (['train', CITYSCAPES_W18, '--gpus', '0'], "argument --gpus: expected a positive integer, got 0"),
    (['train', CITYSCAPES_W18, '--gpus', '-1'], "argument --gpus: expected a positive integer, got -1"),
    (['train', CITYSCAPES_W18, '--nnodes', '2', '--node-rank', '2'], '--node-rank must be below --nnodes (2)'),
    (['train', CITYSCAPES_W18, '--master-port', '70000'], 'expected a TCP port in 1..65535'),
    (['export', CITYSCAPES_W18, 'x.pth', '--shape', '0', '0'], 'argument --shape: expected a positive integer, got 0'),
    (['export', CITYSCAPES_W18, 'x.pth', '--batch', '0'], 'argument --batch: expected a positive integer, got 0'),
    (['complexity', 'w17'], "arch must be one of"),
    (['test', CITYSCAPES_W18, 'missing.pth'], 'checkpoint missing.pth does not exist'),
])
def test_cli_mistakes_are_one_line_and_exit_2(argv, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert expected in one_line_cli_error(argv, capsys)


def test_config_without_default_scope_is_one_line(tmp_path, capsys):
    config = tmp_path / 'bare.py'
    config.write_text("model = dict(type='hrnet_mm.HRNet')\n")
    err = one_line_cli_error(['train', str(config), '--dry-run'], capsys)
    assert 'default_scope must be one of' in err


def test_export_rejects_small_shapes_and_old_opsets_in_one_line(tmp_path, capsys):
    checkpoint = tmp_path / 'm.pth'
    import torch
    torch.save({'state_dict': {'w': torch.ones(1)}}, checkpoint)
    assert 'must be >= 32' in one_line_cli_error(['export', CITYSCAPES_W18, str(checkpoint), '--shape', '16', '16'],
                                              capsys)
    assert 'opset must be an int in 11..20, got 5' in one_line_cli_error(
        ['export', CITYSCAPES_W18, str(checkpoint), '--opset', '5'], capsys)


@pytest.mark.parametrize('alias, preset', [('w18-small', 'w18-small-v1'), ('W32', 'w32'),
                                           ('w18_small_v2', 'w18-small-v2')])
def test_complexity_accepts_the_aliases_hrnet_accepts(alias, preset, capsys):
    from hrnet_mm.cli import main
    from hrnet_mm.models import HRNet
    assert HRNet(arch=alias).arch == HRNet(arch=preset).arch
    assert main(['complexity', alias, '--input', '64x64']) == 0
    assert f'| backbone | {preset} | 64x64 |' in capsys.readouterr().out
