"""The OpenVINO engine runs the files ``hrnet-mm export`` writes (float32 and int8) as onnxruntime does."""
from pathlib import Path

import openvino  # noqa: F401  (requirements/dev.txt: a set-up without it fails here, loudly)
import pytest
import torch

from hrnet_mm.apis import export_onnx
from hrnet_mm.apis.quantize import quantize_onnx
from hrnet_mm.apis.runtime import open_engine
from hrnet_mm.errors import ConfigError
from hrnet_mm.testing.exports import save_random_checkpoint

REPO = Path(__file__).resolve().parents[2]
DEMO_SEG = str(REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py')


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('ov')
    save_random_checkpoint(DEMO_SEG, root / 'seg.pth')
    fp32 = export_onnx(DEMO_SEG, str(root / 'seg.pth'), root / 'seg.onnx', (1, 3, 64, 64), dynamic=True)
    static = export_onnx(DEMO_SEG, str(root / 'seg.pth'), root / 'static.onnx', (1, 3, 64, 64))
    gen = torch.Generator().manual_seed(1)
    int8 = root / 'seg.int8.onnx'
    quantize_onnx(fp32, int8, [torch.randn(1, 3, 64, 64, generator=gen) for _ in range(4)])
    return fp32, int8, static


@pytest.mark.parametrize('shape', [(1, 3, 64, 64), (2, 3, 96, 80)])
def test_float32_file_in_openvino_equals_onnxruntime(files, shape):
    fp32, _, _ = files
    x = torch.randn(*shape)
    (expected,), (got,) = open_engine(fp32)(x), open_engine(fp32, 'openvino', threads=1)(x)
    assert got.shape == expected.shape == (shape[0], 6, shape[2] // 4, shape[3] // 4)
    # float32 kept (OpenVINO's CPU default would be bf16 on AMX CPUs: ~1e-2 of the scale).
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4 * expected.abs().max().item())


def test_int8_file_in_openvino_stays_close_to_onnxruntime_int8(files):
    fp32, int8, _ = files
    x = torch.randn(2, 3, 64, 64)
    (reference,) = open_engine(fp32)(x)
    (ort,), (ov,) = open_engine(int8)(x), open_engine(int8, 'openvino')(x)

    def rel(a):
        return ((a - reference).norm() / reference.norm()).item()
    assert 0 < rel(ov) < 0.2 and 0 < rel(ort) < 0.2 and ((ov - ort).norm() / reference.norm()).item() < 0.1


def test_static_file_refuses_another_shape_in_one_line(files):
    _, _, static = files
    engine = open_engine(static, 'openvino')
    assert engine.input_shape == (1, 3, 64, 64)
    with pytest.raises(ConfigError, match='--dynamic'):
        engine(torch.zeros(1, 3, 64, 96))
