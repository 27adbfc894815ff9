"""Speed, memory and efficiency of hrnet_mm's HRNet next to the HRNets of mmseg, mmpose, mmdet and timm.

Every comparison runs in ONE process with the SAME weights (ours are copied into the peer, whose
state-dict keys match) and the SAME inputs; repeats are interleaved (ours and the peer take turns,
the order rotating every round) after warm-up, and each cell reports the median with the
interquartile range. Our twin of each peer uses the peer's resize (mmseg: bilinear fusion; mmpose,
mmdet, timm: nearest; mmpose: the single-output pose layout), so both compute the same function.

Modes. Like for like (both models get the same treatment): eval ``plain`` (model.eval(), NCHW),
``deploy`` (BatchNorm folded into the convs by :func:`hrnet_mm.inference_rewrites.switch_to_deploy`, NCHW) and
``deploy_cl`` (folded, model and input channels-last); train ``plain`` (forward + backward of
``sum(mean(output))``, no optimizer step; ``--full`` adds ``cl``). Here ours runs with
``channels_last=False``. Out of the box (``default`` and, in eval, ``default_deploy``): ours built
as configs build it (``hrnet_mm.HRNet``: channels-last weights, NCHW outputs) and fed the NCHW batch
a data preprocessor produces, against the peer as it ships (``plain``).

GFLOP/s counts conv/linear multiply-adds x 2 (x 3 more for forward + backward in training), set
against a large matmul and one large channels-last 3x3 conv timed in the same run.

Peak training memory: one training step per model in a fresh subprocess. On CUDA
``torch.cuda.max_memory_allocated`` above the pre-step allocation; on CPU the peak resident set
(Linux ``VmHWM``, reset through ``/proc/self/clear_refs`` right before the step) above the pre-step
RSS, with glibc's mmap threshold pinned to 64 KiB so freed tensors leave the RSS at once. Python's
tracemalloc does not see torch's allocations, so it is not used.

Usage (``tools/benchmark.py`` is its command line; this package lives outside the installed one):
    python tools/benchmark.py                 # W18, seg 512x512 vs mmseg: a few minutes on 2 CPU cores
    python tools/benchmark.py --full          # w18-small-v2/w18/w32/w48 x seg/pose/det x every peer (hours on CPU)
    python tools/benchmark.py --device cuda --amp --compile --full
    python tools/benchmark.py --device cuda --amp-dtype float16 --batch 2 --size 512 1024 --configs \\
        ours=configs/hrnet_seg/fcn_hrnetv2-w18_4xb2-40k_cityscapes-512x1024_cuda-graph-amp.py \\
        stock=mmseg::hrnet/fcn_hr18_4xb2-40k_cityscapes-512x1024.py   # whole iterations, see --configs
"""
import argparse
import contextlib
import copy
import gc
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

import hrnet_mm  # noqa: F401  (registers the models)
from hrnet_mm.complexity import count_gflops
from hrnet_mm.inference_rewrites import switch_to_deploy, to_channels_last
from hrnet_mm.models import HRNet
from hrnet_mm.models.backbones import ARCH_ZOO
from hrnet_mm.models.dropin import build_hrnet
from hrnet_mm.testing.twins import OURS_LIKE, randomize_norms, stock_hrnet

from .timing import interleaved, time_once

COMMAND = Path(__file__).resolve().parents[1] / 'benchmark.py'  # tools/benchmark.py: runs the memory children

# Input (H, W), peers and batch sizes of each task: seg 512x512, pose 256x192,
# det 800x1344 at batch 1 only (``batch`` overrides ``--batches``).
TASKS: Dict[str, Dict[str, Any]] = {
    'seg': dict(size=(512, 512), peers=('mmseg', 'timm'), train_batch=2),
    'pose': dict(size=(256, 192), peers=('mmpose',), train_batch=8),
    'det': dict(size=(800, 1344), peers=('mmdet',), train_batch=1, batch=1),
}
EVAL_MODES = ('plain', 'deploy', 'deploy_cl')  # like for like
OOTB_MODES = ('default', 'default_deploy')  # ours with its defaults vs the peer plain
FULL_ARCHS = ('w18-small-v2', 'w18', 'w32', 'w48')
MALLOC_MMAP_THRESHOLD = str(64 * 1024)


# ----------------------------------------------------------------------------- models
def build_peer(peer: str, arch: str, with_cp: bool = False) -> nn.Module:
    """The stock HRNet of ``peer`` for a preset, built as that library's configs build it."""
    return stock_hrnet(peer, arch, multiscale_output=OURS_LIKE[peer].get('multiscale_output', True), with_cp=with_cp)


def build_ours(peer: str, arch: str, with_cp: bool = False, channels_last: bool = False) -> HRNet:
    """Our HRNet as its configs build it (BN, norm_eval False), with the peer's resize and layout.

    ``channels_last=False`` (the NCHW layout of the peers) for like-for-like rows; True is our default.
    """
    return build_hrnet(arch=arch, norm_cfg=dict(type='BN', requires_grad=True), with_cp=with_cp,
                       channels_last=channels_last, **OURS_LIKE[peer])


def seeded_pair(peer: str, arch: str, with_cp: bool = False, seed: int = 0) -> Tuple[HRNet, nn.Module]:
    """(ours, peer) holding the same Kaiming weights and random BN statistics (so folding is not trivial)."""
    torch.manual_seed(seed)
    ours = build_ours(peer, arch, with_cp)
    ours.init_weights()
    randomize_norms(ours, seed + 1)
    stock = build_peer(peer, arch, with_cp)
    stock.load_state_dict(ours.state_dict(), strict=True)
    return ours, stock


def as_default(ours: HRNet, peer: str, arch: str) -> HRNet:
    """``ours`` (same weights) rebuilt with our default settings: channels-last weights, NCHW out."""
    model = build_ours(peer, arch, ours.with_cp, channels_last=True)
    model.load_state_dict(ours.state_dict(), strict=True)
    return model


def with_mode(model: nn.Module, mode: str, train: bool) -> nn.Module:
    """A copy of ``model`` in ``mode``: BN folded for '*deploy*', channels-last for '*cl'; 'plain' and
    'default' (a model already built with our defaults) leave it as it is."""
    model = copy.deepcopy(model)
    model.train(train)  # not chained: the stock HRNets' train() returns None
    if 'deploy' in mode:
        switch_to_deploy(model)
    if mode.endswith('cl'):
        to_channels_last(model)
    return model


def macs_per_image(peer: str, arch: str, size: Tuple[int, int]) -> float:
    """Conv/linear multiply-adds of one image (counted on the meta device: no arithmetic)."""
    with torch.device('meta'):
        model = build_ours(peer, arch)
    return count_gflops(model, (3, *size)) * 2**30


def max_rel_diff(a: List[Tensor], b: List[Tensor]) -> float:
    return max(((x.float() - y.float()).abs().max() / y.float().abs().max().clamp_min(1e-12)).item()
               for x, y in zip(a, b))


# ----------------------------------------------------------------------------- timing
def autocast(device: str, amp: bool):
    if not amp:
        return contextlib.nullcontext()
    kind = 'cuda' if device.startswith('cuda') else 'cpu'
    return torch.autocast(kind, dtype=torch.float16 if kind == 'cuda' else torch.bfloat16)


def eval_step(model: nn.Module, x: Tensor, device: str, amp: bool) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad(), autocast(device, amp):
            model(x)
    return run


def train_step(model: nn.Module, x: Tensor, device: str, amp: bool) -> Callable[[], None]:
    def run() -> None:
        model.zero_grad(set_to_none=True)
        with autocast(device, amp):
            outs = model(x)
        sum(o.float().mean() for o in outs).backward()
    return run


def reference_gflops(device: str, amp: bool, repeats: int = 5) -> Dict[str, float]:
    """Best GFLOP/s of a large square matmul and of one large channels-last 3x3 conv (same dtype as the run)."""
    dtype = (torch.float16 if device.startswith('cuda') else torch.bfloat16) if amp else torch.float32
    n = 8192 if device.startswith('cuda') else 2048
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    batch = 8 if device.startswith('cuda') else 1
    conv = nn.Conv2d(256, 256, 3, padding=1, bias=False).to(device, dtype).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 256, 128, 128, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    work = {'matmul': (lambda: a @ b, 2 * n**3),
            'conv3x3_cl': (lambda: conv(x), 2 * conv.weight.numel() * 128 * 128 * batch)}
    best = {}
    with torch.no_grad():
        for name, (fn, flops) in work.items():
            fn()
            best[name] = flops / min(time_once(fn, device) for _ in range(repeats)) / 1e9
    return best


# ----------------------------------------------------------------------------- memory
def _rss_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not in /proc/self/status')


def memory_child(spec: dict) -> dict:
    """Peak memory of one training step (run inside a fresh subprocess; see the module docstring)."""
    device, amp = spec['device'], spec['amp']
    torch.set_num_threads(spec['threads'])
    ours, stock = seeded_pair(spec['peer'], spec['arch'], spec['with_cp'])
    model = (as_default(ours, spec['peer'], spec['arch']) if spec['which'] == 'ours' else stock).to(device)
    model.train()  # not chained: the stock HRNets' train() returns None
    # One tiny step first: thread pools, oneDNN caches and lazy inits are not the model's memory.
    train_step(model, torch.rand(1, 3, 64, 64, device=device), device, amp)()
    model.zero_grad(set_to_none=True)
    x = torch.rand(spec['batch'], 3, *spec['size'], device=device)
    gc.collect()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        train_step(model, x, device, amp)()
        torch.cuda.synchronize()
        return dict(peak_mib=(torch.cuda.max_memory_allocated() - base) / 2**20, method='cuda.max_memory_allocated')
    base = _rss_kib('VmRSS')
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # reset VmHWM (the peak RSS) to the current RSS
    train_step(model, x, device, amp)()
    return dict(peak_mib=(_rss_kib('VmHWM') - base) / 1024, method='VmHWM - VmRSS before the step (Linux)')


def measure_memory(spec: dict) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=MALLOC_MMAP_THRESHOLD)
    out = subprocess.run([sys.executable, str(COMMAND), '--memory-child', json.dumps(spec)], env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f'memory child failed for {spec}:\n{out.stderr[-2000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- the run
def input_size(task: str, args: argparse.Namespace) -> Tuple[int, int]:
    """(H, W) of the inputs: ``--size``, else the task's own."""
    return (args.size[0], args.size[1]) if args.size else TASKS[task]['size']


def bench_pair(task: str, arch: str, peer: str, args: argparse.Namespace, log: Callable[[str], None]) -> List[dict]:
    """Every eval batch and mode, and the training step, of ours vs one peer; one row per (phase, batch, mode)."""
    device, size = args.device, input_size(task, args)
    ours, stock = seeded_pair(peer, arch)
    ours, stock = ours.to(device), stock.to(device)
    default = as_default(ours, peer, arch).to(device)
    macs = macs_per_image(peer, arch, size)
    probe = torch.rand(1, 3, 64, 64, device=device)
    ours.eval()
    with torch.no_grad():
        reference = ours(probe)
    rows = []
    batches = [TASKS[task]['batch']] if 'batch' in TASKS[task] else args.batches
    phases = [('eval', b, tuple(args.modes or EVAL_MODES) + OOTB_MODES) for b in batches]
    if not args.no_train:
        phases.append(('train', args.train_batch or TASKS[task]['train_batch'], args.train_modes + ('default',)))
    for phase, batch, modes in phases:
        train = phase == 'train'
        x = torch.rand(batch, 3, *size, device=device)
        # Entry key -> (model, mode applied to it). Out of the box, the peer runs as it ships: one
        # '<peer>/plain' entry serves those rows and the like-for-like plain row.
        peer_modes = {mode: 'plain' if mode in OOTB_MODES else mode for mode in modes}
        specs: Dict[str, Tuple[nn.Module, str]] = {}
        for mode in modes:
            specs[f'ours/{mode}'] = (default if mode in OOTB_MODES else ours, mode)
            specs.setdefault(f'{peer}/{peer_modes[mode]}', (stock, peer_modes[mode]))
        entries, diffs = {}, {}
        for key, (model, mode) in specs.items():
            m = with_mode(model, mode, train)
            xin, probe_in = x, probe
            if mode.endswith('cl'):  # out of the box the input stays NCHW
                xin, probe_in = (t.contiguous(memory_format=torch.channels_last) for t in (x, probe))
            if not train:  # same function as our plain model, up to float rounding
                with torch.no_grad():
                    diffs[key] = max_rel_diff(m(probe_in), reference)
            if args.compile:
                m = torch.compile(m)  # type: ignore[assignment]
            entries[key] = (train_step if train else eval_step)(m, xin, device, args.amp)
        log(f'{task} {arch} vs {peer}: {phase} batch {batch} {"x".join(map(str, size))}')
        for key, diff in diffs.items():
            if diff > 1e-3:  # float rounding is ~1e-6: anything larger means different functions
                log(f'  WARNING: {key} differs from our plain model by {diff:.2g} (relative)')
        stats = interleaved(entries, args.train_repeats if train else args.repeats, args.warmup, device, log)
        flops = 2 * macs * batch * (3 if train else 1)
        for mode in modes:
            ours_key, peer_key = f'ours/{mode}', f'{peer}/{peer_modes[mode]}'
            ours_s, peer_s = stats[ours_key], stats[peer_key]
            label = f'ours {mode} vs peer plain' if mode in OOTB_MODES else mode
            rows.append(dict(task=task, arch=arch, peer=peer, phase=phase, batch=batch, size=list(size), mode=label,
                             ours=ours_s, peer_stats=peer_s,
                             ours_gflops=flops / ours_s['median_s'] / 1e9, peer_gflops=flops / peer_s['median_s'] / 1e9,
                             speedup=peer_s['median_s'] / ours_s['median_s'],
                             ours_rel_diff=diffs.get(ours_key), peer_rel_diff=diffs.get(peer_key)))
        del entries
        gc.collect()
    return rows


def check_targets(rows: List[dict], memory: List[dict], ref: Dict[str, float]) -> List[dict]:
    """The CPU targets of docs/benchmarks.md, on W18 seg 2x3x512x512 vs mmseg where that was measured."""
    def find(phase: str, mode: str, batch: int = 2) -> Optional[dict]:
        return next((r for r in rows if (r['task'], r['arch'], r['peer'], r['phase'], r['batch'], r['mode'], r['size'])
                     == ('seg', 'w18', 'mmseg', phase, batch, mode, [512, 512])), None)
    targets = []
    train = find('train', 'ours default vs peer plain')
    if train:
        targets.append(dict(target='out of the box: training step >= 1.4x mmseg (W18, 2x3x512x512)',
                            value=train['speedup'], threshold=1.4, held=train['speedup'] >= 1.4))
    ootb = find('eval', 'ours default_deploy vs peer plain')
    if ootb:
        targets.append(dict(target='out of the box: deploy-mode eval >= 2.0x mmseg plain (W18, 2x3x512x512)',
                            value=ootb['speedup'], threshold=2.0, held=ootb['speedup'] >= 2.0))
    like = [r for r in rows if r['mode'] in EVAL_MODES + ('cl',)]
    if like:
        worst = min(like, key=lambda r: r['speedup'])
        targets.append(dict(target='like-for-like (same mode for both) never slower: min speedup >= 1.0',
                            value=worst['speedup'], threshold=1.0, held=worst['speedup'] >= 1.0,
                            where=f"{worst['task']} {worst['arch']} vs {worst['peer']} {worst['phase']} "
                                  f"b{worst['batch']} {worst['mode']}"))
    deploy = [r for r in (find('eval', 'deploy'), find('eval', 'deploy_cl'),
                          find('eval', 'ours default_deploy vs peer plain')) if r]
    if deploy:
        best = max(deploy, key=lambda r: r['ours_gflops'])
        share = best['ours_gflops'] / ref['conv3x3_cl']
        targets.append(dict(target='deploy eval >= 60% of the channels-last 3x3 conv GFLOP/s (W18, batch 2)',
                            value=share, threshold=0.6, held=share >= 0.6, where=best['mode']))
    cp = {m['with_cp']: m['peak_mib'] for m in memory
          if (m['task'], m['arch'], m['which'], m['size']) == ('seg', 'w18', 'ours', [512, 512])}
    if True in cp and False in cp:
        saving = 1 - cp[True] / cp[False]
        targets.append(dict(target='with_cp lowers peak training memory >= 35% (W18, 2x3x512x512)',
                            value=saving, threshold=0.35, held=saving >= 0.35))
    return targets


# ----------------------------------------------------------------------------- report
def cpu_name() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open('/proc/cpuinfo') as f:
            model = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), model)
    return f'{model} CPU, {os.cpu_count()} cores'


def _ms(s: dict) -> str:
    return f"{s['median_s'] * 1e3:.0f} ({s['q1_s'] * 1e3:.0f}-{s['q3_s'] * 1e3:.0f})"


def markdown(result: dict) -> str:
    ref = result['reference_gflops']
    best = max(ref.values())
    env = result['env']
    lines = [f"Device: {env['device_name']}; torch {env['torch']}; threads {env['threads']}; amp {env['amp']}; "
             f"compile {env['compile']}; load average {env['load_avg_before']:.1f} before, "
             f"{env['load_avg_after']:.1f} after.",
             f"Reference: matmul {ref['matmul']:.1f} GFLOP/s, channels-last 3x3 conv {ref['conv3x3_cl']:.1f} GFLOP/s.",
             '',
             '| task | arch | peer | phase | batch | mode | ours ms (IQR) | peer ms (IQR) | speedup (peer/ours) '
             '| ours GFLOP/s (% best ref) | peer GFLOP/s |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in result['rows']:
        lines.append(f"| {r['task']} | {r['arch']} | {r['peer']} | {r['phase']} | {r['batch']} | {r['mode']} | "
                     f"{_ms(r['ours'])} | {_ms(r['peer_stats'])} | {r['speedup']:.2f}x | "
                     f"{r['ours_gflops']:.1f} ({100 * r['ours_gflops'] / best:.0f}%) | {r['peer_gflops']:.1f} |")
    if result['memory']:
        lines += ['', '| task | arch | model | with_cp | batch | peak training memory (MiB) |',
                  '|---|---|---|---|---|---|']
        for m in result['memory']:
            name = 'ours' if m['which'] == 'ours' else m['peer']
            lines.append(f"| {m['task']} | {m['arch']} | {name} | {m['with_cp']} | {m['batch']} "
                         f"| {m['peak_mib']:.0f} |")
        lines.append(f"\nMemory method: {result['memory'][0]['method']}, one step in a fresh process.")
    if result['targets']:
        lines += ['', '| target | measured | held |', '|---|---|---|']
        for t in result['targets']:
            where = f" ({t['where']})" if t.get('where') else ''
            lines.append(f"| {t['target']} | {t['value']:.2f}{where} | {'yes' if t['held'] else 'no'} |")
    return '\n'.join(lines) + '\n'


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = result['rows']
    labels = [f"{r['task']} {r['arch']} {r['peer']}\n{r['phase']} b{r['batch']} {r['mode']}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rows)), 4))
    ax.bar(range(len(rows)), [r['speedup'] for r in rows])
    ax.axhline(1.0, color='k', lw=0.8)
    ax.set_xticks(range(len(rows)), labels, rotation=90, fontsize=6)
    ax.set_ylabel('speedup (peer time / ours)')
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument('--archs', nargs='+', default=['w18'], choices=sorted(ARCH_ZOO), metavar='ARCH')
    p.add_argument('--tasks', nargs='+', default=['seg'], choices=sorted(TASKS))
    p.add_argument('--peers', nargs='+', choices=sorted(OURS_LIKE),
                   help="peers to compare with (default: the task's library: seg mmseg, pose mmpose, det mmdet)")
    p.add_argument('--batches', nargs='+', type=int, default=[2],
                   help='eval batch sizes of seg and pose (det runs batch 1); default 2, --full 1 2 8')
    p.add_argument('--train-batch', type=int, help='training batch (default: seg 2, pose 8, det 1)')
    p.add_argument('--modes', nargs='+', choices=EVAL_MODES, help='eval modes (default: all three)')
    p.add_argument('--repeats', type=int, default=5, help='timed eval repeats per entry (default 5)')
    p.add_argument('--train-repeats', type=int, default=3, help='timed training steps per entry (default 3)')
    p.add_argument('--warmup', type=int, default=1, help='untimed calls per entry first (default 1)')
    p.add_argument('--no-train', action='store_true', help='skip the training step')
    p.add_argument('--no-memory', action='store_true', help='skip the peak-memory subprocesses')
    p.add_argument('--full', action='store_true',
                   help=f'archs {FULL_ARCHS}, all tasks, every peer, every batch size, train modes plain + cl')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--amp', action='store_true', help='autocast: bfloat16 on CPU, float16 on CUDA')
    p.add_argument('--compile', action='store_true', help='torch.compile every model (compile time is in warm-up)')
    p.add_argument('--threads', type=int, help='torch.set_num_threads (default: torch picks, = cores)')
    p.add_argument('--out-dir', default='work_dirs/benchmark')
    p.add_argument('--plot', action='store_true', help='also write speedups.png (matplotlib)')
    p.add_argument('--size', nargs=2, type=int, metavar=('H', 'W'),
                   help="input size (default: the task's, seg 512x512, pose 256x192, det 800x1344; with "
                        "--configs the first config's)")
    p.add_argument('--memory-child', help=argparse.SUPPRESS)
    iters = p.add_argument_group('whole iterations of real configs (--configs): train_step and test_step')
    iters.add_argument('--configs', nargs='+', metavar='LABEL=CONFIG',
                       help='e.g. ours=configs/hrnet_seg/X.py stock=mmseg::hrnet/Y.py; the last is the reference')
    iters.add_argument('--batch', type=int, default=2, help='images per iteration (default 2)')
    iters.add_argument('--amp-dtype', choices=('float16', 'bfloat16'),
                       help='AmpOptimWrapper with this dtype for every config (default: OptimWrapper, fp32)')
    iters.add_argument('--iters', type=int, default=10, help='timed iterations per config and phase (default 10)')
    args = p.parse_args(argv)
    args.train_modes = ('plain',)
    if args.full:
        args.archs, args.tasks = list(FULL_ARCHS), sorted(TASKS)
        args.batches = [1, 2, 8]
        args.train_modes = ('plain', 'cl')
        args.peers = args.peers or sorted(OURS_LIKE)
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        print(json.dumps(memory_child(json.loads(args.memory_child))))
        return 0
    import logging

    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # stock init_weights logs every parameter

    def log(text: str) -> None:
        print(text, flush=True)

    if args.configs:
        return iterations_main(args)
    started = time.time()
    load_before = os.getloadavg()[0]
    if args.device == 'cpu' and load_before > 0.5 and torch.get_num_threads() > 1:
        # With every core busy elsewhere, OpenMP barriers wait on descheduled threads: each multi-threaded
        # op can take 10-100x longer, so timings say more about the neighbours than about the models.
        log(f'WARNING: load average {load_before:.1f} before the run; other processes share the CPU. '
            'Prefer a quiet machine (or --threads 1).')
    ref = reference_gflops(args.device, args.amp)
    log(f"reference GFLOP/s: matmul {ref['matmul']:.1f}, channels-last 3x3 conv {ref['conv3x3_cl']:.1f}")
    rows, memory = [], []
    for task in args.tasks:
        peers = [p for p in (args.peers or TASKS[task]['peers'][:1]) if p in TASKS[task]['peers']]
        for arch in args.archs:
            for peer in peers:
                rows += bench_pair(task, arch, peer, args, log)
                if args.no_memory or args.no_train:
                    continue
                batch = args.train_batch or TASKS[task]['train_batch']
                for which in ('ours', 'peer'):
                    for cp in ((False, True) if peer != 'timm' else (False,)):
                        spec = dict(task=task, arch=arch, peer=peer, which=which, with_cp=cp, batch=batch,
                                    size=list(input_size(task, args)), device=args.device, amp=args.amp,
                                    threads=torch.get_num_threads())
                        memory.append(dict(spec, **measure_memory(spec)))
                        log(f"  memory {which if which == 'ours' else peer} with_cp={cp}: "
                            f"{memory[-1]['peak_mib']:.0f} MiB")
    ref_after = reference_gflops(args.device, args.amp)  # best of before and after: the machine's ceiling
    ref = {k: max(ref[k], ref_after[k]) for k in ref}
    device_name = torch.cuda.get_device_name() if args.device.startswith('cuda') else cpu_name()
    result = dict(env=dict(device=args.device, device_name=device_name, torch=torch.__version__,
                           threads=torch.get_num_threads(), load_avg_before=load_before,
                           load_avg_after=os.getloadavg()[0], amp=args.amp, compile=args.compile,
                           python=platform.python_version(), argv=sys.argv[1:], seconds=time.time() - started),
                  reference_gflops=ref, rows=rows, memory=memory, targets=check_targets(rows, memory, ref))
    result['ratios'] = [dict(task=r['task'], arch=r['arch'], peer=r['peer'], phase=r['phase'], batch=r['batch'],
                             mode=r['mode'], ours_over_peer_time=1 / r['speedup'], speedup=r['speedup'])
                        for r in rows]
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'benchmark.json').write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (out / 'benchmark.md').write_text(text)
    if args.plot:
        plot(result, out / 'speedups.png')
    print('\n' + text)
    log(f"wrote {out / 'benchmark.json'} and {out / 'benchmark.md'} in {time.time() - started:.0f} s")
    return 0


def iterations_main(args: argparse.Namespace) -> int:
    """``--configs``: ms per training iteration / inference, images/s and peak memory, side by side."""
    from .iterations import compare_configs
    configs = dict(item.split('=', 1) for item in args.configs)
    rows = compare_configs(configs, args.batch, tuple(args.size) if args.size else None, args.device,
                           args.amp_dtype, iters=args.iters, warmup=max(args.warmup, 3))
    device_name = torch.cuda.get_device_name() if args.device.startswith('cuda') else cpu_name()
    reference = list(configs)[-1]
    lines = [f"Device: {device_name}; batch {args.batch}; {args.amp_dtype or 'fp32'}; speedup vs {reference}, "
             'same process, taking turns', '',
             '| config | phase | ms/iter (IQR) | images/s | peak memory (MiB) | speedup |', '|---|---|---|---|---|---|']
    for r in rows:
        peak = f"{r['peak_mem_mib']:.0f}" if r['peak_mem_mib'] is not None else '-'
        lines.append(f"| {r['label']} | {r['phase']} | {r['ms']:.1f} ({r['ms_iqr']:.1f}) | {r['images_per_s']:.1f} | "
                     f"{peak} | {r['speedup']:.2f}x |")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = dict(device_name=device_name, configs=configs, rows=rows)
    (out / 'iterations.json').write_text(json.dumps(result, indent=1))
    (out / 'iterations.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
