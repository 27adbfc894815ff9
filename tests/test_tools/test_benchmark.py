"""tools/benchmark.py on a tiny input: every row compares models that compute the same function."""
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def benchmark(monkeypatch):
    spec = importlib.util.spec_from_file_location('hrnet_benchmark', REPO / 'tools' / 'benchmark.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(module.TASKS, 'seg', dict(module.TASKS['seg'], size=(64, 96)))
    return module


def test_benchmark_rows_cover_like_for_like_and_out_of_the_box(benchmark, tmp_path):
    assert benchmark.main(['--archs', 'w18-small-v1', '--repeats', '1', '--train-repeats', '1', '--no-memory',
                           '--threads', '1', '--out-dir', str(tmp_path)]) == 0
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
