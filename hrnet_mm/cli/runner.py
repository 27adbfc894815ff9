"""What ``hrnet-mm train`` and ``hrnet-mm test`` share: their flags and the command that runs a stock tool.

The library (mmseg, mmpose or mmdet) is found from the config's ``default_scope``; its stock
``tools/train.py`` / ``tools/test.py`` ship inside the installed wheel under ``.mim/``.
"""
import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import List

from hrnet_mm.apis import library_of, load_config
from hrnet_mm.apis.build import replace_syncbn
from hrnet_mm.errors import ConfigError

from .types import non_negative_int, port, positive_int

TENSORBOARD_BACKEND = dict(type='TensorboardVisBackend')


def tool_path(library: str, tool: str) -> Path:
    """Path of ``tools/<tool>.py`` shipped inside an installed OpenMMLab wheel."""
    package = importlib.import_module(library)
    path = Path(package.__file__ or '').parent / '.mim' / 'tools' / f'{tool}.py'
    if not path.is_file():
        raise FileNotFoundError(f'{library} ships no {path}; install {library} from a wheel, not a bare source tree')
    return path


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('--work-dir', help='default: work_dirs/<config name>')
    p.add_argument('--gpus', type=positive_int, default=1,
                   help='processes on this node (GPUs; CPU processes with gloo where CUDA is absent)')
    p.add_argument('--nnodes', type=positive_int, default=1)
    p.add_argument('--node-rank', type=non_negative_int, default=0)
    p.add_argument('--master-addr', default='127.0.0.1')
    p.add_argument('--master-port', type=port, default=29500)
    p.add_argument('--launcher', choices=('auto', 'slurm'), default='auto',
                   help='auto: one process, or torchrun for several; slurm: run under srun, one process per '
                        'task, the stock tool reads the SLURM_* variables')
    p.add_argument('--tensorboard', action='store_true', help='also write TensorBoard event files')
    p.add_argument('--cfg-options', nargs='+', help='key=value overrides, as the stock tools take')
    p.add_argument('--dry-run', action='store_true', help='print the command only; write nothing')


def run_config(args: argparse.Namespace, work_dir: str, cuda: bool) -> str:
    """The config the tool runs: the given one, or a copy in ``work_dir`` with the run's changes.

    Changes: SyncBN -> BN without CUDA (one warning line), and the TensorBoard backend with
    ``--tensorboard`` (a list of dicts that ``--cfg-options`` cannot express). Nothing is written
    on a dry run.
    """
    cfg = load_config(args.config)
    changed = False
    if not cuda and replace_syncbn(cfg._cfg_dict):
        print(f'[hrnet-mm] no CUDA device: SyncBN is switched to BN for this run of {args.config}', file=sys.stderr)
        changed = True
    if getattr(args, 'tensorboard', False):
        backends = list(cfg.get('visualizer', {}).get('vis_backends') or [dict(type='LocalVisBackend')])
        if not any(b.get('type') == TENSORBOARD_BACKEND['type'] for b in backends):
            cfg.visualizer = {**cfg.get('visualizer', dict(type='Visualizer', name='visualizer')),
                              'vis_backends': backends + [TENSORBOARD_BACKEND]}
            changed = True
    if not changed:
        return args.config
    out = os.path.join(work_dir, Path(args.config).stem + '_run.py')
    if not args.dry_run:
        os.makedirs(work_dir, exist_ok=True)
        cfg.dump(out)
    return out


def build_command(args: argparse.Namespace, tool: str) -> List[str]:
    """The command line that runs the library's tool, under torchrun when several processes are asked for."""
    import torch
    if args.node_rank >= args.nnodes:
        raise ConfigError(f'--node-rank must be below --nnodes ({args.nnodes}), got {args.node_rank}')
    if args.launcher == 'slurm':
        if 'SLURM_PROCID' not in os.environ:
            raise ConfigError('--launcher slurm runs under srun (SLURM_PROCID is not set); srun starts one '
                              'process per task, so --gpus / --nnodes / --node-rank do not apply')
        if (args.gpus, args.nnodes, args.node_rank) != (1, 1, 0):
            raise ConfigError('--launcher slurm takes its processes from srun: drop --gpus, --nnodes and --node-rank')
    library = library_of(load_config(args.config))
    cuda = torch.cuda.is_available()
    work_dir = args.work_dir or os.path.join('work_dirs', Path(args.config).stem)
    tool_args = [str(tool_path(library.name, tool)), run_config(args, work_dir, cuda)]
    if tool == 'test':
        tool_args.append(args.checkpoint)
    tool_args += ['--work-dir', work_dir]
    cfg_options = list(args.cfg_options or [])
    if tool == 'train' and args.resume:
        if args.resume == 'auto':
            tool_args.append('--resume')
        elif library.resume_is_flag:  # e.g. mmseg: --resume is a flag; the checkpoint goes to load_from
            tool_args.append('--resume')
            cfg_options.append(f'load_from={args.resume}')
        else:
            tool_args += ['--resume', args.resume]
    if tool == 'test' and args.show_dir:
        tool_args += ['--show-dir', os.path.abspath(os.path.join(work_dir, args.show_dir))]
    distributed = args.gpus > 1 or args.nnodes > 1
    if args.launcher == 'slurm':
        tool_args += ['--launcher', 'slurm']
    elif distributed:
        tool_args += ['--launcher', 'pytorch']
    if (distributed or args.launcher == 'slurm') and not cuda:
        # gloo, and a DDP wrapper without CUDA device ids (mmengine's default sets them)
        cfg_options += ['env_cfg.dist_cfg.backend=gloo', 'model_wrapper_cfg.type=MMDistributedDataParallel',
                        'model_wrapper_cfg.device_ids=None', 'model_wrapper_cfg.broadcast_buffers=False']
    if cfg_options:
        tool_args += ['--cfg-options', *cfg_options]
    launcher = [sys.executable, '-m', 'hrnet_mm.launch']
    if not distributed or args.launcher == 'slurm':  # under srun, each task is one process already
        return launcher + tool_args
    torchrun = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={args.gpus}',
                f'--nnodes={args.nnodes}', f'--node_rank={args.node_rank}',
                f'--master_addr={args.master_addr}', f'--master_port={args.master_port}',
                '--module', 'hrnet_mm.launch']
    return torchrun + tool_args


def run_tool(args: argparse.Namespace, tool: str) -> int:
    command = build_command(args, tool)
    print('[hrnet-mm] ' + ' '.join(command), flush=True)
    if args.dry_run:
        return 0
    return subprocess.call(command)
