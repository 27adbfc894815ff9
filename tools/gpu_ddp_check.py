"""DDP training with ``cuda_graph=True``: every gradient of the graphed backward reaches DDP's reducer.

Trains the seg demo's GPU config (HRNet with CUDA-graph replay, fp16 AMP) for a few iterations under
mmengine's runner wrapped in ``MMDistributedDataParallel``, on synthetic data, and checks:

- every iteration, every trainable parameter's gradient went through DDP's communication hook (the
  reducer fires it per bucket once the parameters' autograd hooks have marked them ready, so a
  gradient that bypassed autograd would be missing), and none of those gradients was all zeros;
- after training, every trainable parameter differs from its initial value;
- the backbone replayed its CUDA-graph recording (it did not silently run eagerly).

Run under torchrun, like the stock tools (``tools/gpu_check.sh ddp`` does), e.g. one process on NCCL:
    python -m torch.distributed.run --nproc_per_node=1 --master_port=29510 --module hrnet_mm.launch \\
        tools/gpu_ddp_check.py --work-dir work_dirs/gpu_ddp --iters 20

Prints one ``ddp check:`` line per check and exits non-zero if one fails. ``--backend gloo`` runs the
same on CPU, where the backbone runs eagerly and the replay check fails by design.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128_cuda-graph-amp.py'


class ReducerProbe(Hook):
    """Records which parameters' gradients pass DDP's communication hook, iteration by iteration."""

    def __init__(self) -> None:
        self.params: Dict[int, Tuple[str, torch.nn.Parameter]] = {}
        self.names: Dict[int, str] = {}
        self.initial: Dict[int, torch.Tensor] = {}
        self.seen: Set[int] = set()
        self.zero: Set[int] = set()
        self.buckets = 0
        self.failures: List[str] = []
        self.iterations = 0

    def before_train(self, runner) -> None:
        model = runner.model
        if not isinstance(model, torch.nn.parallel.DistributedDataParallel):
            raise SystemExit(f'ddp check: the runner did not wrap the model in DDP ({type(model).__name__}); '
                             'run under torchrun')
        self.params = {id(p): (n, p) for n, p in model.module.named_parameters() if p.requires_grad}
        self.names = {key: name for key, (name, _) in self.params.items()}
        self.initial = {key: p.detach().clone() for key, (_, p) in self.params.items()}
        model.register_comm_hook(state=None, hook=self._comm_hook)

    def _comm_hook(self, state, bucket):
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
        self.buckets += 1
        for param, grad in zip(bucket.parameters(), bucket.gradients()):
            self.seen.add(id(param))
            if not bool(grad.ne(0).any()):
                self.zero.add(id(param))
        return allreduce_hook(None, bucket)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.iterations += 1
        missing = sorted(self.names[k] for k in set(self.names) - self.seen)
        zero = sorted(self.names[k] for k in self.zero)
        if missing:
            self.failures.append(f'iteration {runner.iter + 1}: {len(missing)} gradients never reached the '
                                 f'reducer, e.g. {missing[:3]}')
        if zero:
            self.failures.append(f'iteration {runner.iter + 1}: {len(zero)} all-zero gradients, e.g. {zero[:3]}')
        self.seen.clear()
        self.zero.clear()


def configure(args: argparse.Namespace, data_root: Path) -> Config:
    """The GPU demo config, shortened to ``args.iters`` on the synthetic data, under the PyTorch launcher."""
    cfg = Config.fromfile(str(args.config))
    cfg.work_dir = str(args.work_dir)
    cfg.launcher = 'pytorch'
    cfg.env_cfg.dist_cfg = dict(backend=args.backend)
    if not torch.cuda.is_available():  # CPU, gloo: a DDP wrapper without device ids; AMP is CUDA-only
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False)
        cfg.optim_wrapper = dict(cfg.optim_wrapper, type='OptimWrapper')
        cfg.optim_wrapper.pop('loss_scale', None)
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = str(data_root)
        loader.num_workers = 2
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = args.iters
    cfg.default_hooks.checkpoint.interval = args.iters
    cfg.default_hooks.logger.interval = 5
    return cfg


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument('--config', type=Path, default=CONFIG)
    parser.add_argument('--work-dir', type=Path, default=Path('work_dirs/gpu_ddp_check'))
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--backend', default='nccl', choices=('nccl', 'gloo'))
    args = parser.parse_args(argv)

    from hrnet_mm.cuda_graph import graph_runner
    from hrnet_mm.synthetic.seg_data import generate
    data_root = generate(str(args.work_dir / 'data'), train=64, val=16, size=128, seed=0)
    runner = Runner.from_cfg(configure(args, data_root))
    probe = ReducerProbe()
    runner.register_hook(probe, priority='LOWEST')
    runner.train()

    model = runner.model.module
    failures = list(probe.failures)
    if probe.iterations != args.iters:
        failures.append(f'{probe.iterations} of {args.iters} iterations ran')
    unchanged = sorted(name for key, (name, p) in probe.params.items() if torch.equal(p.detach(), probe.initial[key]))
    if unchanged:
        failures.append(f'{len(unchanged)} trainable parameters never changed, e.g. {unchanged[:3]}')
    graph = graph_runner(model.backbone)
    stats = dict(graph.stats) if graph is not None else {'replays': 0, 'eager': 0, 'recordings': 0}
    if stats['replays'] < args.iters - 2:  # recorded on its second use, replayed from then on
        failures.append(f'the backbone replayed its CUDA graph {stats["replays"]} times in {args.iters} iterations '
                        f'({stats}); it ran eagerly')
    report = dict(iterations=probe.iterations, trainable_parameters=len(probe.names), buckets=probe.buckets,
                  graph_stats=stats, backend=args.backend, world_size=runner.world_size, failures=failures)
    (args.work_dir / 'ddp_check.json').write_text(json.dumps(report, indent=1))
    print(f'ddp check: world size {runner.world_size}, backend {args.backend}, {probe.iterations} iterations, '
          f'{len(probe.names)} trainable parameters, {probe.buckets} buckets reduced; backbone graph {stats}')
    for failure in failures:
        print(f'ddp check: FAILED: {failure}')
    if not failures:
        print('ddp check: OK: every gradient reached the reducer, non-zero, every iteration; every parameter '
              'changed; the backbone replayed its CUDA graph')
    return 1 if failures else 0


if __name__ == '__main__':
    code = main()
    if code:  # on success return normally: hrnet_mm.launch then closes the process group cleanly
        sys.exit(code)
