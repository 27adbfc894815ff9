"""``hrnet-mm train``: train a config with its library's own ``tools/train.py``."""
import argparse

from hrnet_mm.config_lookup import resolve_config

from .runner import add_common_arguments, run_tool

DESCRIPTION = """\
Train a config with the stock tools/train.py of its library (mmseg, mmpose, mmdet or mmpretrain,
read from the config's default_scope). Without CUDA, SyncBN becomes BN in a copy of the config.
Checkpoints and logs go to the work dir; --resume continues from the latest one there."""
EPILOG = """\
examples:
  hrnet-mm train hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py --work-dir work_dirs/seg
  hrnet-mm train my_config.py --cfg-options train_cfg.max_iters=2000 --tensorboard
  hrnet-mm train my_config.py --resume                # latest checkpoint in the work dir
  hrnet-mm train my_config.py --gpus 8                # one node, 8 GPUs (torchrun)
  hrnet-mm train my_config.py --gpus 8 --nnodes 2 --node-rank 0 --master-addr 10.0.0.1   # node 0 of 2
  hrnet-mm train my_config.py --gpus 8 --nnodes 2 --node-rank 1 --master-addr 10.0.0.1   # node 1 of 2
  srun -N 2 --ntasks-per-node 8 --gpus-per-task 1 hrnet-mm train my_config.py --launcher slurm"""


def add_parser(sub) -> None:
    p = sub.add_parser('train', help="train a config with its library's own tools/train.py",
                       description=DESCRIPTION, epilog=EPILOG)
    p.add_argument('config', help='config file, packaged name (hrnet_seg/<name>.py) or pkg:: name')
    p.add_argument('--resume', nargs='?', const='auto', default=None, metavar='CHECKPOINT',
                   help='resume from the latest checkpoint in the work dir, or from the given one')
    add_common_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    args.config = resolve_config(args.config)  # a local file, or a packaged one: hrnet_seg/<name>.py
    if args.resume not in (None, 'auto'):
        from hrnet_mm.checkpoint import fetch_checkpoint
        fetch_checkpoint(args.resume)  # a damaged or refused file fails here, in one line
    return run_tool(args, 'train')
