"""``hrnet-mm train`` / ``hrnet-mm test``: run the owning library's own tool for a config.

The library (mmseg, mmpose or mmdet) is found from the config's ``default_scope``; its stock
``tools/train.py`` / ``tools/test.py`` ship inside the installed wheel under ``.mim/``.
"""
import argparse
import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, List, Optional, Tuple

LIBRARIES = ('mmseg', 'mmpose', 'mmdet')


def library_of(cfg) -> str:
    """The OpenMMLab library that owns a config (from ``default_scope``)."""
    scope = cfg.get('default_scope')
    if scope not in LIBRARIES:
        raise ValueError(f"config default_scope must be one of {LIBRARIES} to pick a train/test tool, "
                         f"got {scope!r}; inherit a stock config (e.g. _base_ = 'mmseg::...')")
    return scope


def tool_path(library: str, tool: str) -> Path:
    """Path of ``tools/<tool>.py`` shipped inside an installed OpenMMLab wheel."""
    package = importlib.import_module(library)
    path = Path(package.__file__).parent / '.mim' / 'tools' / f'{tool}.py'
    if not path.exists():
        raise FileNotFoundError(f'{library} ships no {path}; install {library} from a wheel, not a bare source tree')
    return path


def replace_syncbn(node: Any) -> int:
    """Turn every SyncBN config into BN in place; returns how many were changed."""
    changed = 0
    if isinstance(node, dict):
        if node.get('type') in ('SyncBN', 'MMSyncBN'):
            node['type'] = 'BN'
            changed += 1
        for value in node.values():
            changed += replace_syncbn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            changed += replace_syncbn(value)
    return changed


def prepare_config(config: str, work_dir: str, cuda: bool) -> str:
    """The config to run: as given, or (without CUDA) a copy with SyncBN switched to BN."""
    from mmengine.config import Config
    if cuda:
        return config
    cfg = Config.fromfile(config)
    if not replace_syncbn(cfg._cfg_dict):
        return config
    warnings.warn(f'{config}: no CUDA device, so SyncBN is switched to BN for this run', stacklevel=2)
    os.makedirs(work_dir, exist_ok=True)
    out = os.path.join(work_dir, Path(config).stem + '_bn.py')
    cfg.dump(out)
    return out


def build_model(config, checkpoint: Optional[str] = None) -> Tuple[Any, str, Any]:
    """Build a config's model on CPU through its library's registry; optionally load a checkpoint (strict).

    SyncBN becomes BN (one device) and backbone pretraining is skipped (no download): a checkpoint,
    if given, supplies every weight.

    Args:
        config (str | mmengine.Config): Config path, or a loaded config (modified in place).
        checkpoint: Checkpoint path. Default: None (random init).

    Returns:
        (model in eval mode, library name, the mmengine ``Config``).
    """
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import load_checkpoint
    cfg = Config.fromfile(config) if isinstance(config, (str, Path)) else config
    library = library_of(cfg)
    replace_syncbn(cfg._cfg_dict)
    if 'pretrained' in cfg.model:
        cfg.model.pretrained = None
    if 'init_cfg' in cfg.model.get('backbone', {}):
        cfg.model.backbone.init_cfg = None
    registry = importlib.import_module(f'{library}.registry').MODELS
    with DefaultScope.overwrite_default_scope(library):
        model = registry.build(cfg.model)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True, logger='silent')
    model.eval()  # not chained: some OpenMMLab train() overrides return None
    return model, library, cfg


def build_command(args: argparse.Namespace, tool: str) -> List[str]:
    """The command line that runs the library's tool, under torchrun when several processes are asked for."""
    import torch
    from mmengine.config import Config
    library = library_of(Config.fromfile(args.config))
    cuda = torch.cuda.is_available()
    work_dir = args.work_dir or os.path.join('work_dirs', Path(args.config).stem)
    config = prepare_config(args.config, work_dir, cuda)
    tool_args = [str(tool_path(library, tool)), config]
    if tool == 'test':
        tool_args.append(args.checkpoint)
    tool_args += ['--work-dir', work_dir]
    cfg_options = list(args.cfg_options or [])
    if tool == 'train' and args.resume:
        if args.resume == 'auto':
            tool_args.append('--resume')
        elif library == 'mmseg':  # mmseg's --resume is a flag; the checkpoint goes to load_from
            tool_args.append('--resume')
            cfg_options.append(f'load_from={args.resume}')
        else:
            tool_args += ['--resume', args.resume]
    if tool == 'test' and getattr(args, 'show_dir', None):
        tool_args += ['--show-dir', args.show_dir]
    distributed = args.gpus > 1 or args.nnodes > 1
    if distributed:
        tool_args += ['--launcher', 'pytorch']
        if not cuda:  # gloo, and a DDP wrapper without CUDA device ids (mmengine's default sets them)
            cfg_options += ['env_cfg.dist_cfg.backend=gloo', 'model_wrapper_cfg.type=MMDistributedDataParallel',
                            'model_wrapper_cfg.device_ids=None', 'model_wrapper_cfg.broadcast_buffers=False']
    if cfg_options:
        tool_args += ['--cfg-options', *cfg_options]
    launcher = [sys.executable, '-m', 'hrnet_mm.launch']
    if not distributed:
        return launcher + tool_args
    torchrun = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={args.gpus}',
                f'--nnodes={args.nnodes}', f'--node_rank={args.node_rank}',
                f'--master_addr={args.master_addr}', f'--master_port={args.master_port}',
                '--module', 'hrnet_mm.launch']
    return torchrun + tool_args


def _run(args: argparse.Namespace, tool: str) -> int:
    command = build_command(args, tool)
    print('[hrnet-mm] ' + ' '.join(command), flush=True)
    if args.dry_run:
        return 0
    return subprocess.call(command)


def infer_pose(config: str, checkpoint: str, image: str, out_dir: str, device: str = 'cpu') -> list:
    """Run a top-down pose config + checkpoint on one image with mmpose's ``MMPoseInferencer``.

    The whole image is the person box (no detector is downloaded). Writes the drawn skeleton under
    ``out_dir/visualizations`` and the keypoints as JSON under ``out_dir/predictions``.

    Returns:
        list: One dict per person with ``keypoints`` (17 x [x, y]) and ``keypoint_scores``.
    """
    from mmpose.apis import MMPoseInferencer
    inferencer = MMPoseInferencer(pose2d=config, pose2d_weights=checkpoint, det_model='whole_image', device=device)
    result = next(inferencer(image, out_dir=out_dir))
    return result['predictions'][0]


def _infer_pose(args: argparse.Namespace) -> int:
    people = infer_pose(args.config, args.checkpoint, args.image, args.out_dir, args.device)
    print(f'[hrnet-mm] {len(people)} person(s); drawing and keypoints under {args.out_dir}')
    return 0


def add_runner_commands(sub: argparse._SubParsersAction) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument('--work-dir', help='default: work_dirs/<config name>')
        p.add_argument('--gpus', type=int, default=1,
                       help='processes on this node (GPUs; CPU processes with gloo where CUDA is absent)')
        p.add_argument('--nnodes', type=int, default=1)
        p.add_argument('--node-rank', type=int, default=0)
        p.add_argument('--master-addr', default='127.0.0.1')
        p.add_argument('--master-port', type=int, default=29500)
        p.add_argument('--cfg-options', nargs='+', help='key=value overrides, as the stock tools take')
        p.add_argument('--dry-run', action='store_true', help='print the command only')

    train = sub.add_parser('train', help="train a config with its library's own tools/train.py")
    train.add_argument('config')
    train.add_argument('--resume', nargs='?', const='auto', default=None,
                       help='resume from the latest checkpoint in the work dir, or from the given one')
    common(train)
    train.set_defaults(func=lambda a: _run(a, 'train'))

    test = sub.add_parser('test', help="evaluate a checkpoint with its library's own tools/test.py")
    test.add_argument('config')
    test.add_argument('checkpoint')
    test.add_argument('--show-dir', help='save visualized predictions here (inside the work dir)')
    common(test)
    test.set_defaults(func=lambda a: _run(a, 'test'))

    pose = sub.add_parser('infer-pose', help='draw the keypoints a pose checkpoint finds on an image')
    pose.add_argument('config')
    pose.add_argument('checkpoint')
    pose.add_argument('image')
    pose.add_argument('--out-dir', default='work_dirs/infer_pose')
    pose.add_argument('--device', default='cpu')
    pose.set_defaults(func=_infer_pose)
