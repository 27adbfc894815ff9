"""`make bench-deploy`: CPU inference of HRNet, stock eager vs ours folded vs exported float32 / int8, one process.

For each case (segmentation W18 2x3x512x512, pose W32 1x3x256x192 and 8x3x256x192), the stock config's
model (the task library's own HRNet) gets random weights with non-trivial BN statistics, and the same
weights go into our config's model (``hrnet_mm.HRNet``). Timed, in interleaved rounds with the same
input, all with ``--threads`` threads:

- ``stock eager``: the stock model, ``model(x, None, mode='tensor')`` (what the exported file computes);
- ``ours folded``: our model after ``switch_to_deploy`` (BN folded; channels-last inside);
- ``<engine> fp32``: ``hrnet-mm export --dynamic`` of our model, in onnxruntime / OpenVINO;
- ``<engine> int8``: its ``--int8`` form (QDQ, per-channel weights, output layers float32);
- ``openvino bf16``: the float32 file with OpenVINO's bf16 hint (AMX / AVX-512 BF16 CPUs only);
- ``torch pt2e int8``: our folded model through torch's PT2E int8 quantizer and ``torch.compile``
  (:mod:`benchmarking.pt2e`; when torchao imports; compiling takes about a minute per case).

The int8 models are calibrated on random normal inputs (the timing does not depend on the ranges; the
calibration that accuracy needs, on the config's training images, is measured by
tests/test_apis/test_deploy_accuracy.py). Each row reports the median and quartiles, the ratio to stock
eager in the same run and the relative error of its output against stock eager.

Usage: python tools/deploy_benchmark.py [--cases seg pose1 pose8] [--engines onnxruntime openvino]
                                        [--repeats 7] [--threads 2] [--no-pt2e] [--json out.json]
"""
import argparse
import json
import logging
import platform
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch
from benchmarking import pt2e  # tools/ is on sys.path when this script runs
from benchmarking.timing import interleaved

from hrnet_mm.apis.build import build_checked_model
from hrnet_mm.apis.export import ExportWrapper, export_onnx
from hrnet_mm.apis.quantize import quantize_onnx
from hrnet_mm.apis.runtime import ENGINES, OnnxRuntimeEngine, OpenVinoEngine, installed
from hrnet_mm.inference_rewrites import switch_to_deploy
from hrnet_mm.testing.twins import randomize_norms

CASES = {
    'seg': dict(title='seg W18, 2x3x512x512', shape=(2, 3, 512, 512),
                ours='configs/hrnet_seg/fcn_hrnetv2-w18_4xb2-40k_cityscapes-512x1024.py',
                stock='mmseg::hrnet/fcn_hr18_4xb2-40k_cityscapes-512x1024.py'),
    'pose1': dict(title='pose W32, 1x3x256x192', shape=(1, 3, 256, 192),
                  ours='configs/hrnet_pose/td-hm_hrnetv1-w32_4xb32-210e_coco-256x192.py',
                  stock='mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'),
    'pose8': dict(title='pose W32, 8x3x256x192', shape=(8, 3, 256, 192),
                  ours='configs/hrnet_pose/td-hm_hrnetv1-w32_4xb32-210e_coco-256x192.py',
                  stock='mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'),
}
# docs/deploy.md's targets: (case, row) -> least speed-up over stock eager.
TARGETS = {('seg', 'onnxruntime int8'): 5.0, ('seg', 'openvino int8'): 5.0, ('seg', 'torch pt2e int8'): 5.0,
           ('seg', 'onnxruntime fp32'): 2.5, ('seg', 'openvino fp32'): 2.5}


def rel_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    """``||got - ref|| / ||ref||`` (Frobenius)."""
    return ((got.float() - ref).norm() / ref.norm()).item()


def build_case(case: dict, work: Path, engines: List[str], threads: int, log: Callable[[str], None],
               with_pt2e: bool = False):
    """The timed callables of one case and the relative error of each against stock eager."""
    torch.manual_seed(0)
    stock, library, _ = build_checked_model(case['stock'], None)
    randomize_norms(stock, seed=1, affine=True)
    stock.eval()
    ours, _, _ = build_checked_model(case['ours'], None)
    ours.load_state_dict(stock.state_dict(), strict=True)  # same weights, our HRNet
    checkpoint = work / 'weights.pth'
    torch.save(dict(state_dict=ours.state_dict(), meta=dict()), checkpoint)
    fp32 = export_onnx(case['ours'], str(checkpoint), work / 'model.onnx', case['shape'], dynamic=True)
    log(f'  exported {fp32.name}')
    gen = torch.Generator().manual_seed(2)
    calib = [torch.randn(1, *case['shape'][1:], generator=gen) for _ in range(4)]
    int8 = work / 'model.int8.onnx'
    quantize_onnx(fp32, int8, calib)
    log(f'  quantized {int8.name}')
    x = torch.randn(*case['shape'], generator=gen)
    stock_net = ExportWrapper(stock, library).eval()
    ours_net = ExportWrapper(switch_to_deploy(ours), library).eval()
    runs: Dict[str, Callable[[], object]] = {'stock eager': lambda: stock_net(x), 'ours folded': lambda: ours_net(x)}
    for name in engines:
        for kind, path in (('fp32', fp32), ('int8', int8)):
            if name == 'onnxruntime':
                engine = OnnxRuntimeEngine(path, threads, spinning=False)
            else:
                engine = OpenVinoEngine(path, threads)
            runs[f'{name} {kind}'] = lambda engine=engine: engine(x)
        if name == 'openvino':
            bf16 = OpenVinoEngine(fp32, threads, precision='bf16')
            runs['openvino bf16'] = lambda bf16=bf16: bf16(x)
    if with_pt2e:
        converted = pt2e.quantize_int8(ours_net, x, [torch.randn(*case['shape'], generator=gen) for _ in range(4)])
        log('  quantized with PT2E; compiling')
        compiled = pt2e.compile_int8(converted, x)
        runs['torch pt2e int8'] = lambda: compiled(x)
    with torch.no_grad():
        ref = stock_net(x)[0]
        errors = {}
        for key, fn in runs.items():
            out = fn()
            errors[key] = rel_error(out[0], ref)
    return runs, errors


def markdown(results: dict) -> str:
    lines = []
    for key, case in results['cases'].items():
        lines += [f"\n{CASES[key]['title']} ({results['threads']} threads, {results['repeats']} interleaved rounds)\n",
                  '| path | median ms (quartiles) | vs stock eager | rel. error vs stock |', '|---|---|---|---|']
        base = case['stats']['stock eager']['median_s']
        for row, s in case['stats'].items():
            lines.append(f"| {row} | {s['median_s'] * 1e3:.0f} ({s['q1_s'] * 1e3:.0f}-{s['q3_s'] * 1e3:.0f}) | "
                         f"{base / s['median_s']:.2f}x | {case['errors'][row]:.2%} |")
    if results['targets']:
        lines += ['\n| target | measured | held |', '|---|---|---|']
        lines += [f"| {t['case']} {t['row']} >= {t['target']:.1f}x stock eager | {t['ratio']:.2f}x | "
                  f"{'yes' if t['held'] else 'no'} |" for t in results['targets']]
    return '\n'.join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument('--cases', nargs='+', choices=sorted(CASES), default=list(CASES))
    p.add_argument('--engines', nargs='+', choices=ENGINES, help='default: those installed')
    p.add_argument('--repeats', type=int, default=7)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--pt2e', action=argparse.BooleanOptionalAction, default=None,
                   help="torch's PT2E int8 row (default: when torchao imports)")
    p.add_argument('--json', help='also write the results here')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # stock init_weights logs every parameter
    torch.set_num_threads(args.threads)
    engines = args.engines or [e for e in ENGINES if installed(e)]
    with_pt2e = pt2e.unavailable() is None if args.pt2e is None else args.pt2e

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    results: dict = dict(threads=args.threads, repeats=args.repeats, engines=engines, cpu=platform.processor(),
                         torch=torch.__version__, cases={}, targets=[])
    for name in engines + (['torchao'] if with_pt2e else []):
        results[name] = __import__(name).__version__
    for key in args.cases:
        log(f'[{key}] building and exporting')
        with tempfile.TemporaryDirectory() as tmp:
            runs, errors = build_case(CASES[key], Path(tmp), engines, args.threads, log, with_pt2e)
            with torch.no_grad():
                stats = interleaved(runs, args.repeats, args.warmup, 'cpu', log=log)
        results['cases'][key] = dict(stats=stats, errors=errors)
        base = stats['stock eager']['median_s']
        for (case, row), target in TARGETS.items():
            if case == key and row in stats:
                ratio = base / stats[row]['median_s']
                results['targets'].append(dict(case=case, row=row, target=target, ratio=ratio, held=ratio >= target))
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
