"""tools/benchmark.py on a tiny input on CPU, run as a user runs it (also on a GPU host; the GPU runs are
tools/gpu_benchmarks.sh): every row compares models that compute the same function."""
import doctest
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def benchmark(*args: str) -> None:
    command = [sys.executable, str(REPO / 'tools' / 'benchmark.py'), *args, '--threads', '1', '--device', 'cpu']
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-3000:]


def test_benchmark_rows_cover_like_for_like_and_out_of_the_box(tmp_path):
    benchmark('--archs', 'w18-small-v1', '--size', '64', '96', '--repeats', '1', '--train-repeats', '1',
              '--no-memory', '--out-dir', str(tmp_path))
    result = json.loads((tmp_path / 'benchmark.json').read_text())
    rows = {(r['phase'], r['mode']): r for r in result['rows']}
    assert set(rows) == {('eval', 'plain'), ('eval', 'deploy'), ('eval', 'deploy_cl'),
                         ('eval', 'ours default vs peer plain'), ('eval', 'ours default_deploy vs peer plain'),
                         ('train', 'plain'), ('train', 'ours default vs peer plain')}
    for (phase, mode), row in rows.items():
        assert row['peer'] == 'mmseg' and row['speedup'] > 0 and row['size'] == [64, 96]
        if phase == 'eval':  # same function as our plain NCHW model: float rounding only
            assert row['ours_rel_diff'] < 1e-4 and row['peer_rel_diff'] < 1e-4, mode
    # Out-of-the-box rows reuse the peer's plain timing from the same rounds.
    assert rows[('eval', 'ours default vs peer plain')]['peer_stats'] == rows[('eval', 'plain')]['peer_stats']
    names = [t['target'] for t in result['targets']]
    assert not any('W18' in n for n in names)  # those targets are defined on W18 at 512x512 only
    assert 'ours default_deploy vs peer plain' in (tmp_path / 'benchmark.md').read_text()


def test_whole_iterations_of_three_libraries_configs(tmp_path):
    configs = ['seg=configs/hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py',
               'pose=configs/hrnet_pose/td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py',
               'det=configs/hrnet_det/faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256.py',
               'stock=mmseg::hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py']
    benchmark('--configs', *configs, '--batch', '1', '--size', '64', '64', '--iters', '1', '--warmup', '1',
              '--out-dir', str(tmp_path))
    result = json.loads((tmp_path / 'iterations.json').read_text())
    rows = {(r['label'], r['phase']): r for r in result['rows']}
    assert set(rows) == {(label, phase) for label in ('seg', 'pose', 'det', 'stock') for phase in ('train', 'infer')}
    for row in rows.values():
        assert row['ms'] > 0 and row['images_per_s'] == pytest.approx(1000 / row['ms'])
        assert row['peak_mem_mib'] is None  # CPU: GPU memory only
    assert rows[('stock', 'train')]['speedup'] == 1.0
    assert '| seg | train |' in (tmp_path / 'iterations.md').read_text()


def test_the_timing_examples_run():
    spec = importlib.util.spec_from_file_location('benchmark_timing', REPO / 'tools' / 'benchmarking' / 'timing.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = doctest.testmod(module, verbose=False)
    assert result.attempted >= 1 and result.failed == 0
