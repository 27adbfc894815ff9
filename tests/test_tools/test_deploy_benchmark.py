"""``make bench-deploy`` (tools/deploy_benchmark.py) end to end on a small case: every row runs and is checked."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / 'tools'))  # as when the script runs: `benchmarking` importable
    spec = importlib.util.spec_from_file_location('deploy_benchmark', REPO / 'tools' / 'deploy_benchmark.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # W18-small at 64x64 instead of W18 at 512x512: the same paths, seconds instead of minutes
    monkeypatch.setattr(module, 'CASES', {'seg': dict(
        title='seg W18-small, 1x3x64x64', shape=(1, 3, 64, 64),
        ours=str(REPO / 'configs/hrnet_seg/fcn_hrnetv2-w18s_4xb2-40k_cityscapes-512x1024.py'),
        stock='mmseg::hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py')})
    yield module
    sys.modules.pop('deploy_benchmark', None)


def test_every_row_runs_and_matches_stock_eager(bench, tmp_path, capsys):
    out = tmp_path / 'deploy.json'
    # The PT2E row needs a torchao that imports with this torch (not torch 2.1's); without it, the default
    # leaves the row out and the benchmark still runs.
    with_pt2e = bench.pt2e.unavailable() is None
    assert bench.main(['--repeats', '1', '--warmup', '0', '--threads', '1', '--json', str(out)]) == 0
    results = json.loads(out.read_text())
    case = results['cases']['seg']
    rows = ['stock eager', 'ours folded', 'onnxruntime fp32', 'onnxruntime int8', 'openvino fp32', 'openvino int8',
            'openvino bf16'] + (['torch pt2e int8'] if with_pt2e else [])
    assert list(case['stats']) == rows and all(case['stats'][r]['median_s'] > 0 for r in rows)
    errors = case['errors']
    # Same weights everywhere: float32 paths equal stock eager to rounding, reduced precision within a few percent
    assert all(errors[r] < 1e-4 for r in rows if r.endswith('fp32') or r in ('stock eager', 'ours folded'))
    assert all(1e-4 < errors[r] < 0.1 for r in rows if r.endswith(('int8', 'bf16')))
    assert {(t['case'], t['row']) for t in results['targets']} == {(c, r) for c, r in bench.TARGETS if r in rows}
    assert ('| torch pt2e int8 |' in capsys.readouterr().out) == with_pt2e
