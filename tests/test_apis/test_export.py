"""``hrnet-mm export``: ONNX of the demo segmentation config, checked with onnxruntime."""
from pathlib import Path

import pytest
import torch

from hrnet_mm.apis import ExportWrapper, build_model, export_onnx, run_onnx
from hrnet_mm.cli import main
from hrnet_mm.testing.twins import randomize_norms

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

REPO = Path(__file__).resolve().parents[2]
DEMO_SEG = str(REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py')


@pytest.fixture(scope='module')
def seg_checkpoint(tmp_path_factory) -> str:
    """The demo config's model, random weights and BN statistics, saved as an mmengine checkpoint."""
    torch.manual_seed(0)
    model, _, _ = build_model(DEMO_SEG)
    randomize_norms(model, seed=1, affine=True)
    path = tmp_path_factory.mktemp('ckpt') / 'seg.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path)


def test_cli_exports_dynamic_onnx_that_matches_pytorch_at_two_sizes(tmp_path, seg_checkpoint, capsys):
    out = tmp_path / 'seg.onnx'
    assert main(['export', DEMO_SEG, seg_checkpoint, '--format', 'onnx', '--dynamic',
                 '--shape', '64', '64', '--out', str(out)]) == 0
    assert out.exists() and str(out) in capsys.readouterr().out
    model, library, _ = build_model(DEMO_SEG, seg_checkpoint)  # plain eval model: BN not folded
    reference = ExportWrapper(model, library).eval()
    for shape in [(1, 3, 64, 64), (2, 3, 96, 80)]:
        x = torch.rand(*shape)
        with torch.no_grad():
            (expected,) = reference(x)
        (got,) = run_onnx(out, x)
        assert got.shape == expected.shape == (shape[0], 6, shape[2] // 4, shape[3] // 4)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


def test_static_export_keeps_the_traced_size(tmp_path, seg_checkpoint):
    import onnx
    out = export_onnx(DEMO_SEG, seg_checkpoint, tmp_path / 'static.onnx', (1, 3, 64, 96))
    dims = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 64, 96]


def test_cli_refuses_other_formats_with_a_clear_message(tmp_path, capsys):
    assert main(['export', DEMO_SEG, str(tmp_path / 'x.pth'), '--format', 'torchscript']) == 2
    err = capsys.readouterr().err
    assert "'torchscript' is not supported" in err and '--format onnx' in err


def test_missing_onnxruntime_names_the_pip_command(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)  # import now raises ImportError
    with pytest.raises(ImportError, match='pip install onnx onnxruntime'):
        export_onnx(DEMO_SEG, None, tmp_path / 'x.onnx')
