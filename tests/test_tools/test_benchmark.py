"""tools/benchmark.py on a tiny input on CPU (also on a GPU host; the GPU runs are tools/gpu_benchmarks.sh):
every row compares models that compute the same function."""
import importlib
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def benchmark(monkeypatch):
    module = importlib.import_module('hrnet_mm.apis.benchmark')
    monkeypatch.setitem(module.TASKS, 'seg', dict(module.TASKS['seg'], size=(64, 96)))
    return module


def test_benchmark_rows_cover_like_for_like_and_out_of_the_box(benchmark, tmp_path):
    assert benchmark.main(['--archs', 'w18-small-v1', '--repeats', '1', '--train-repeats', '1', '--no-memory',
                           '--threads', '1', '--device', 'cpu', '--out-dir', str(tmp_path)]) == 0
    result = json.loads((tmp_path / 'benchmark.json').read_text())
    rows = {(r['phase'], r['mode']): r for r in result['rows']}
    assert set(rows) == {('eval', 'plain'), ('eval', 'deploy'), ('eval', 'deploy_cl'),
                         ('eval', 'ours default vs peer plain'), ('eval', 'ours default_deploy vs peer plain'),
                         ('train', 'plain'), ('train', 'ours default vs peer plain')}
    for (phase, mode), row in rows.items():
        assert row['peer'] == 'mmseg' and row['speedup'] > 0
        if phase == 'eval':  # same function as our plain NCHW model: float rounding only
            assert row['ours_rel_diff'] < 1e-4 and row['peer_rel_diff'] < 1e-4, mode
    # Out-of-the-box rows reuse the peer's plain timing from the same rounds.
    assert rows[('eval', 'ours default vs peer plain')]['peer_stats'] == rows[('eval', 'plain')]['peer_stats']
    names = [t['target'] for t in result['targets']]
    assert not any('training step' in n for n in names)  # the targets are defined on W18 only
    assert 'ours default_deploy vs peer plain' in (tmp_path / 'benchmark.md').read_text()


def test_whole_iterations_of_three_libraries_configs(benchmark, tmp_path):
    configs = ['seg=configs/hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py',
               'pose=configs/hrnet_pose/td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py',
               'det=configs/hrnet_det/faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256.py',
               'stock=mmseg::hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py']
    assert benchmark.main(['--configs', *configs, '--batch', '1', '--size', '64', '64', '--iters', '1',
                           '--warmup', '1', '--threads', '1', '--device', 'cpu', '--out-dir', str(tmp_path)]) == 0
    result = json.loads((tmp_path / 'iterations.json').read_text())
    rows = {(r['label'], r['phase']): r for r in result['rows']}
    assert set(rows) == {(label, phase) for label in ('seg', 'pose', 'det', 'stock') for phase in ('train', 'infer')}
    for row in rows.values():
        assert row['ms'] > 0 and row['images_per_s'] == pytest.approx(1000 / row['ms'])
        assert row['peak_mem_mib'] is None  # CPU: GPU memory only
    assert rows[('stock', 'train')]['speedup'] == 1.0
    assert '| seg | train |' in (tmp_path / 'iterations.md').read_text()
