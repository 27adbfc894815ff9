"""torch's PT2E int8 path (tools/benchmarking/pt2e.py) accepts our whole HRNet models and keeps their outputs."""
import doctest
import importlib.util
from pathlib import Path

import pytest
import torch

from hrnet_mm.apis.build import build_checked_model
from hrnet_mm.apis.export import ExportWrapper
from hrnet_mm.testing.twins import randomize_norms

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location('benchmark_pt2e', REPO / 'tools' / 'benchmarking' / 'pt2e.py')
pt2e = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(pt2e)
DEMOS = {'seg': 'configs/hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py',
         'pose': 'configs/hrnet_pose/td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py',
         'cls': 'configs/hrnet_cls/hrnet-w18s-v1-c_1xb32-1000it_synthetic-64x64.py'}
# A benchmark path of tools/, not of the package: a stack whose torchao does not import (torch 2.1) lacks it.
pytestmark = pytest.mark.skipif(pt2e.unavailable() is not None, reason=str(pt2e.unavailable()))


def test_the_pt2e_examples_run():
    result = doctest.testmod(pt2e, verbose=False)
    assert result.attempted >= 1 and result.failed == 0


@pytest.mark.parametrize('task', sorted(DEMOS))
def test_every_conv_of_our_models_quantizes_and_the_outputs_stay_close(task):
    # The quantizer refuses a graph in which one module instance is called several times (one ReLU
    # module per block did that); every conv must come out int8 on both inputs.
    torch.manual_seed(0)
    model, library, _ = build_checked_model(str(REPO / DEMOS[task]), None)
    randomize_norms(model, seed=1, affine=True)
    net = ExportWrapper(model.eval(), library).eval()
    gen = torch.Generator().manual_seed(1)
    x, *calibration = (torch.randn(2, 3, 64, 64, generator=gen) for _ in range(4))
    converted = pt2e.quantize_int8(net, x, calibration)
    assert pt2e.int8_conv_fraction(converted) == 1.0
    with torch.no_grad():
        ref, got = net(x)[0], converted(x)[0]
    assert got.shape == ref.shape
    # 8-bit steps through ~100 convs: a few percent of the output's norm; a wrong graph is off by ~100%
    assert ((got - ref).norm() / ref.norm()).item() < 0.05
