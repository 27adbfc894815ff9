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

from hrnet_mm.apis import library_of
from hrnet_mm.apis.build import replace_syncbn
from hrnet_mm.config_lookup import load_config
from hrnet_mm.errors import ConfigError, SetupError, one_line

from .types import cfg_option, non_negative_int, port, positive_int

TENSORBOARD_BACKEND = dict(type='TensorboardVisBackend')


def tool_path(library: str, tool: str) -> Path:
    """Path of ``tools/<tool>.py`` shipped inside an installed OpenMMLab wheel."""
    package = importlib.import_module(library)
    path = Path(package.__file__ or '').parent / '.mim' / 'tools' / f'{tool}.py'
    if not path.is_file():
        raise FileNotFoundError(f'{library} ships no {path}; install {library} from a wheel, not a bare source tree')
    return path


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('--work-dir', help='where logs, checkpoints and the run config go; default: work_dirs/<config name>')
    p.add_argument('--cfg-options', nargs='+', type=cfg_option, metavar='KEY=VALUE',
                   help='override config values, as the stock tools take them, e.g. train_cfg.max_iters=2000 '
                        "model.backbone.norm_eval=True param_scheduler.0.end=100 'model.decode_head.in_index=[0,1]'. "
                        'Checked before anything runs: values must parse, and each KEY must be in the config (bases '
                        "merged), an argument of the class its dict's type names, or a key mmengine reads there "
                        '(env_cfg, randomness, data loaders, top-level runner keys); where the class takes **kwargs '
                        'or the dict has no type, only a near-miss of a known key is refused, and below a class '
                        'argument the config leaves unset nothing is judged. A refused key names the closest valid '
                        'one. --dry-run also builds the model with the values')
    p.add_argument('--tensorboard', action='store_true', help='also write TensorBoard event files')
    p.add_argument('--dry-run', action='store_true',
                   help='check the config, the checkpoint and the options, build the model on CPU, print the '
                        'command; write nothing')
    dist = p.add_argument_group(
        'several processes and nodes',
        'Several processes run under torchrun (GPUs with NCCL; without CUDA, CPU processes with gloo).\n'
        'For N nodes run the same command on each, changing only --node-rank: the world size is\n'
        '--nnodes x --gpus; node 0 listens on --master-addr:--master-port and writes logs and checkpoints.')
    dist.add_argument('--gpus', type=positive_int, default=1, metavar='N',
                      help='processes on this node, one per GPU (default 1: no torchrun)')
    dist.add_argument('--nnodes', type=positive_int, default=1, metavar='N', help='number of nodes (default 1)')
    dist.add_argument('--node-rank', type=non_negative_int, default=0, metavar='RANK',
                      help='index of this node, 0 .. nnodes-1 (default 0)')
    dist.add_argument('--master-addr', default='127.0.0.1', metavar='HOST',
                      help="address of node 0, reachable from every node (default 127.0.0.1: one node)")
    dist.add_argument('--master-port', type=port, default=29500, metavar='PORT',
                      help='free TCP port on node 0 for the rendezvous (default 29500)')
    dist.add_argument('--launcher', choices=('auto', 'slurm'), default='auto',
                      help='auto (default): one process, or torchrun for several; slurm: run under srun, one '
                           'process per task (srun decides the count; drop --gpus/--nnodes/--node-rank), the '
                           'stock tool reads the SLURM_* variables')


def check_cfg_options(cfg, options: List[str]) -> None:
    """Check ``options`` (``key=value`` strings) against ``cfg`` and merge them into it, as the stock tools will.

    Each value must parse as mmengine's ``DictAction`` parses it, and each key must exist in the config or
    be taken by what its dict configures (:mod:`hrnet_mm.cli.cfg_options` says what that is).

    Raises:
        ConfigError: A value does not parse; a key is not taken (the line names the closest one that is);
            the key path runs through a value that is no dict.
    """
    from mmengine.config import DictAction

    from .cfg_options import KeyChecker, new_types
    parsed = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
    parsed.add_argument('--cfg-options', nargs='+', action=DictAction)
    try:
        overrides = parsed.parse_args(['--cfg-options', *options]).cfg_options
    except Exception as err:  # DictAction raises several types for a value it cannot parse
        raise ConfigError(f'--cfg-options {" ".join(options)}: {one_line(err, last=True)}') from None
    KeyChecker(cfg.to_dict(), library_of(cfg).name, new_types(overrides)).check(overrides)
    try:
        cfg.merge_from_dict(overrides)
    except Exception as err:  # merge_from_dict raises several types for bad input
        raise ConfigError(f'--cfg-options {" ".join(options)}: {one_line(err, last=True)}') from None


def checked_model(cfg, config: str, options: List[str]):
    """Build the model of ``cfg`` (options merged) on CPU, as the tool will build it.

    SyncBN becomes BN and no pretrained weights are read (:func:`hrnet_mm.apis.build_model`): what is
    tried is every value that shapes the model.

    Raises:
        ConfigError: The model does not build; one line with the model's own error, after the
            ``model`` options given (or the config's name when none was).
    """
    import copy
    import re
    import warnings

    from hrnet_mm.apis import build_model
    model_options = [option for option in options if option.split('=', 1)[0].split('.')[0] == 'model']
    try:
        with warnings.catch_warnings():  # the tool shows them when it builds; here only an error is news
            warnings.simplefilter('ignore')
            return build_model(copy.deepcopy(cfg))[0]
    except ImportError:
        raise  # a missing piece of the stack, not a value: the CLI names what installs it
    except Exception as err:  # whatever a model's constructor raises for a value it refuses
        # mmengine prefixes "class `X` in module: " per nested build; the model's own words follow.
        cause = re.sub(r'class `\w+` in [\w.]+: ', '', one_line(err))
        given = f'with --cfg-options {" ".join(model_options)}' if model_options else f'from {Path(config).name}'
        head = f'the model does not build {given}: '
        raise ConfigError(head + middle_cut(cause, MESSAGE_ROOM - len(head))) from err


MESSAGE_ROOM = 300  # what hrnet_mm.errors.short_line keeps of an error line


def middle_cut(text: str, room: int) -> str:
    """``text`` in at most ``room`` characters (never fewer than 80), its middle replaced by `` ... ``.

    A refused value is named at the end of most messages (``..., got 'w99'``), so the end is kept.

    Example:
        >>> cut = middle_cut('arch must be one of ' + 'w18, ' * 40 + "got 'w99'", 80)
        >>> len(cut), cut.startswith('arch must be one of w18'), ' ... ' in cut, cut.endswith("w18, got 'w99'")
        (80, True, True, True)
    """
    room = max(room, 80)
    if len(text) <= room:
        return text
    keep = room - len(' ... ')
    return text[:keep // 2] + ' ... ' + text[len(text) - (keep - keep // 2):]


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
        from hrnet_mm.environment import require_module
        require_module('tensorboard')  # else the runner fails on it hundreds of lines into the stock tool
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


def checked_config(args: argparse.Namespace):
    """The config of ``args`` with ``--cfg-options`` checked and merged, once the stack its library needs is
    known to be whole.

    Raises:
        SetupError: The library needs a fix pip cannot make (:func:`hrnet_mm.environment.problems`).
        ConfigError: The config does not load, or an option is refused (:func:`check_cfg_options`).
    """
    cfg = load_config(args.config)
    from hrnet_mm.environment import problems
    missing = problems(library_of(cfg).name)
    if missing:
        raise SetupError(missing[0])
    if args.cfg_options:
        check_cfg_options(cfg, args.cfg_options)
    return cfg


def build_command(args: argparse.Namespace, tool: str, cfg=None) -> List[str]:
    """The command line that runs the library's tool, under torchrun when several processes are asked for.

    Args:
        args: The parsed command line.
        tool: ``'train'`` or ``'test'``.
        cfg: What :func:`checked_config` returned for ``args``, with its model built once already
            (``hrnet-mm test`` builds it to check the checkpoint), or None to do both here (the model
            is built on a dry run only).
    """
    import torch
    if args.node_rank >= args.nnodes:
        raise ConfigError(f'--node-rank must be below --nnodes ({args.nnodes}), got {args.node_rank}')
    if args.launcher == 'slurm':
        if 'SLURM_PROCID' not in os.environ:
            raise ConfigError('--launcher slurm runs under srun (SLURM_PROCID is not set); srun starts one '
                              'process per task, so --gpus / --nnodes / --node-rank do not apply')
        if (args.gpus, args.nnodes, args.node_rank) != (1, 1, 0):
            raise ConfigError('--launcher slurm takes its processes from srun: drop --gpus, --nnodes and --node-rank')
    if cfg is None:
        cfg = checked_config(args)
        if args.dry_run:
            checked_model(cfg, args.config, args.cfg_options or [])
    library = library_of(cfg)
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


def run_tool(args: argparse.Namespace, tool: str, cfg=None) -> int:
    """Print the tool's command line (:func:`build_command`) and run it, unless ``--dry-run``."""
    command = build_command(args, tool, cfg)
    print('[hrnet-mm] ' + ' '.join(command), flush=True)
    if args.dry_run:
        return 0
    return subprocess.call(command)
