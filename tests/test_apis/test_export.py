"""``hrnet-mm export``: float32 ONNX checked against PyTorch, int8 calibrated on training images, one-line errors."""
from pathlib import Path

import onnx  # dev requirements: a set-up without them fails here, loudly
import onnxruntime  # noqa: F401
import pytest
import torch

from hrnet_mm.apis import ExportCheckError, ExportWrapper, build_model, export_onnx, run_onnx
from hrnet_mm.apis.export import DEFAULT_RTOL, relative_error
from hrnet_mm.apis.quantize import calibration_inputs, output_layers
from hrnet_mm.apis.runtime import open_engine
from hrnet_mm.cli import main
from hrnet_mm.testing.exports import config_on_data, save_random_checkpoint

REPO = Path(__file__).resolve().parents[2]
DEMO_SEG_NAME = 'hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'
DEMO_SEG = str(REPO / 'configs' / DEMO_SEG_NAME)
DEMO_POSE = str(REPO / 'configs' / 'hrnet_pose' / 'td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py')
DEMO_DET = str(REPO / 'configs' / 'hrnet_det' / 'faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256.py')
DEMO_CLS = str(REPO / 'configs' / 'hrnet_cls' / 'hrnet-w18s-v1-c_1xb32-1000it_synthetic-64x64.py')


@pytest.fixture(scope='module')
def seg_checkpoint(tmp_path_factory) -> str:
    return save_random_checkpoint(DEMO_SEG, tmp_path_factory.mktemp('ckpt') / 'seg.pth')


@pytest.fixture(scope='module')
def seg_on_data(seg_data, tmp_path_factory) -> str:
    """The demo segmentation config pointed at the suite's small synthetic set (inherits the packaged one)."""
    return config_on_data(DEMO_SEG, seg_data, tmp_path_factory.mktemp('cfg') / 'seg_on_data.py')


def _reference(config: str, checkpoint: str):
    model, library, _ = build_model(config, checkpoint)  # plain eval model: BN not folded
    return ExportWrapper(model, library).eval()


def test_cli_exports_dynamic_onnx_that_matches_pytorch_at_two_sizes(tmp_path, seg_checkpoint, capsys):
    out = tmp_path / 'seg.onnx'
    assert main(['export', DEMO_SEG, seg_checkpoint, '--format', 'onnx', '--dynamic',
                 '--shape', '64', '64', '--out', str(out)]) == 0
    assert out.exists() and str(out) in capsys.readouterr().out
    reference = _reference(DEMO_SEG, seg_checkpoint)
    for shape in [(1, 3, 64, 64), (2, 3, 96, 80)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            (expected,) = reference(x)
        (got,) = run_onnx(out, x)
        assert got.shape == expected.shape == (shape[0], 6, shape[2] // 4, shape[3] // 4)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-4 * expected.abs().max().item())


def test_packaged_config_names_are_accepted(tmp_path, seg_checkpoint):
    for i, name in enumerate([DEMO_SEG_NAME, 'hrnet_mm::' + DEMO_SEG_NAME]):
        out = export_onnx(name, seg_checkpoint, tmp_path / f'{i}.onnx', (1, 3, 64, 64))
        assert out.stat().st_size > 1e6  # ~1.5 M float32 parameters


def test_an_output_folder_takes_a_file_named_after_the_checkpoint(tmp_path, seg_checkpoint):
    folder = tmp_path / 'exports'
    folder.mkdir()
    for out in (str(folder), str(tmp_path / 'new') + '/'):  # an existing folder; one to make, by its slash
        assert main(['export', DEMO_SEG, seg_checkpoint, '--shape', '64', '64', '--no-verify', '--out', out]) == 0
        assert [p.name for p in Path(out).iterdir()] == ['seg.onnx']


def test_static_export_keeps_the_traced_size_and_names_it_when_refusing_another(tmp_path, seg_checkpoint):
    out = export_onnx(DEMO_SEG, seg_checkpoint, tmp_path / 'static.onnx', (1, 3, 64, 96))
    dims = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 64, 96]
    with pytest.raises(ValueError, match=r'takes input of shape \(1, 3, 64, 96\), got \(2, 3, 64, 96\).*--dynamic'):
        open_engine(out)(torch.zeros(2, 3, 64, 96))


def test_check_is_relative_to_the_output_scale():
    # Detector features reach ~20: float32 rounding of 1e-4 there is a 5e-6 deviation, well inside.
    expected = torch.linspace(-20, 20, 1000)
    rounding, wrong = relative_error(expected + 1e-4, expected), relative_error(expected * 1.01, expected)
    assert rounding == pytest.approx(5e-6, rel=0.01) and rounding < DEFAULT_RTOL
    assert wrong == pytest.approx(0.01, rel=1e-3) and wrong > DEFAULT_RTOL


def test_detector_backbone_and_neck_pass_the_check(tmp_path):
    checkpoint = save_random_checkpoint(DEMO_DET, tmp_path / 'det.pth')
    out = export_onnx(DEMO_DET, checkpoint, tmp_path / 'det.onnx', (1, 3, 128, 128))
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        expected = _reference(DEMO_DET, checkpoint)(x)
    got = run_onnx(out, x)
    assert len(got) == len(expected) == 5 and max(e.abs().max().item() for e in expected) > 1
    for g, e in zip(got, expected):
        assert relative_error(g, e) < DEFAULT_RTOL


def test_a_failed_check_removes_the_file(tmp_path, seg_checkpoint, capsys):
    out = tmp_path / 'seg.onnx'
    with pytest.raises(ExportCheckError, match='differs from PyTorch'):
        export_onnx(DEMO_SEG, seg_checkpoint, out, (1, 3, 64, 64), rtol=1e-12)  # below float32 rounding
    assert not out.exists()
    assert main(['export', DEMO_SEG, seg_checkpoint, '--shape', '64', '64', '--out', str(out), '--rtol', '1e-12']) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and 'differs from PyTorch' in err and not out.exists()


def _one_line(argv, capsys) -> str:
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and 'Traceback' not in err, err
    return err


def test_plain_mistakes_end_in_one_line_and_exit_2(tmp_path, seg_checkpoint, capsys):
    damaged = tmp_path / 'damaged.pth'
    damaged.write_bytes(Path(seg_checkpoint).read_bytes()[:5000])
    out = ['--out', str(tmp_path / 'x.onnx')]
    assert 'not found' in _one_line(['export', 'hrnet_seg/no-such.py', seg_checkpoint, *out], capsys)
    assert 'not found' in _one_line(['export', str(tmp_path / 'missing.py'), seg_checkpoint, *out], capsys)
    assert 'missing.pth' in _one_line(['export', DEMO_SEG, str(tmp_path / 'missing.pth'), *out], capsys)
    assert 'damaged' in _one_line(['export', DEMO_SEG, str(damaged), *out], capsys)
    err = _one_line(['export', DEMO_POSE, seg_checkpoint, *out], capsys)  # a segmentor's weights, a pose config
    assert f'{Path(seg_checkpoint).name} does not fit {Path(DEMO_POSE).name}: it is a segmentation model' in err
    assert not (tmp_path / 'x.onnx').exists()


def test_cli_refuses_other_formats_with_a_clear_message(tmp_path, capsys):
    assert main(['export', DEMO_SEG, str(tmp_path / 'x.pth'), '--format', 'torchscript']) == 2
    err = capsys.readouterr().err
    assert "'torchscript' is not supported" in err and '--format onnx' in err


def test_missing_onnxruntime_names_the_pip_command(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)  # import now raises ImportError
    with pytest.raises(ImportError, match=r"outputs needs onnxruntime: onnxruntime is not installed; install it with: "
                                          r"pip install 'hrnet_mm\[deploy\]'"):
        export_onnx(DEMO_SEG, None, tmp_path / 'x.onnx')


def test_classifier_exports_logits_and_keeps_its_fc_in_float(tmp_path):
    checkpoint = save_random_checkpoint(DEMO_CLS, tmp_path / 'cls.pth')
    out = export_onnx(DEMO_CLS, checkpoint, tmp_path / 'cls.onnx', (2, 3, 64, 64))
    graph = onnx.load(str(out))
    assert [o.name for o in graph.graph.output] == ['logits']
    (last,) = output_layers(graph)
    assert next(n for n in graph.graph.node if n.name == last).op_type == 'Gemm'  # the head's fc
    assert run_onnx(out, torch.randn(2, 3, 64, 64))[0].shape == (2, 6)


def test_calibration_images_come_through_the_training_pipeline(seg_on_data, seg_checkpoint):
    model, library, cfg = build_model(seg_on_data, seg_checkpoint)
    inputs = calibration_inputs(model, cfg, library, 6, seed=0)
    assert len(inputs) == 6
    # The suite's images are 64x64; the demo's training pipeline resizes them to 96..192 and crops 128.
    assert all(x.shape[:2] == (1, 3) and 96 <= x.shape[2] <= 128 and 96 <= x.shape[3] <= 128 for x in inputs)
    every = torch.cat([x.flatten() for x in inputs])
    assert -2.2 < every.min() < -1 and 1 < every.max() < 2.7  # mean/std-normalized pixels, not noise
    again = calibration_inputs(model, cfg, library, 6, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(inputs, again))  # seeded: the same draw and augmentation


def test_calibration_without_the_training_set_is_one_line(tmp_path, seg_checkpoint, capsys):
    config = tmp_path / 'no_data.py'
    config.write_text(f"_base_ = ['{DEMO_SEG}']\ntrain_dataloader = dict(dataset=dict(data_root='{tmp_path}/none'))\n")
    err = _one_line(['export', str(config), seg_checkpoint, '--shape', '64', '64', '--out', str(tmp_path / 'a.onnx'),
                     '--int8', '--calib', '2'], capsys)
    assert "calibration draws images from the config's training set" in err and 'none' in err


def test_int8_export_is_quantized_calibrated_dynamic_and_close_to_float(tmp_path, seg_on_data, seg_checkpoint,
                                                                          capsys):
    out = tmp_path / 'seg.onnx'
    assert main(['export', seg_on_data, seg_checkpoint, '--dynamic', '--shape', '64', '64', '--out', str(out),
                 '--int8', '--calib', '8']) == 0
    printed = capsys.readouterr().out
    int8 = tmp_path / 'seg.int8.onnx'
    assert 'calibrated on 8 training images' in printed and str(int8) in printed
    graph = onnx.load(str(int8))
    # The logit conv reads float weights (no DequantizeLinear in front of its weight); the others int8.
    producer = {o: n for n in graph.graph.node for o in n.output}
    convs = [n for n in graph.graph.node if n.op_type == 'Conv']
    assert len(convs) == 73  # HRNetV2-W18-small-v1 and the FCN head
    quantized = [n for n in convs if n.input[1] in producer and producer[n.input[1]].op_type == 'DequantizeLinear']
    assert [n.name for n in convs if n not in quantized] == ['/model/conv_seg/Conv']
    assert int8.stat().st_size < 0.5 * out.stat().st_size
    fp32, q = open_engine(out), open_engine(int8)
    for shape in [(1, 3, 64, 64), (3, 3, 96, 128)]:
        x = torch.randn(*shape)
        (f,), (g,) = fp32(x), q(x)
        assert g.shape == f.shape and 0 < ((g - f).norm() / f.norm()).item() < 0.2


@pytest.mark.parametrize('method', ['percentile', 'entropy'])
def test_histogram_calibration_takes_crops_of_different_sizes(tmp_path, seg_checkpoint, method):
    from hrnet_mm.apis.quantize import quantize_onnx
    fp32 = export_onnx(DEMO_SEG, seg_checkpoint, tmp_path / 'seg.onnx', (1, 3, 64, 64), dynamic=True)
    gen = torch.Generator().manual_seed(0)
    crops = [torch.randn(1, 3, h, w, generator=gen) for h, w in ((64, 64), (96, 64), (64, 80))]
    assert quantize_onnx(fp32, tmp_path / 'seg.int8.onnx', crops, method=method) == ['/model/conv_seg/Conv']
    x = torch.randn(1, 3, 64, 64)
    (f,), (q,) = open_engine(fp32)(x), open_engine(tmp_path / 'seg.int8.onnx')(x)
    assert ((q - f).norm() / f.norm()).item() < 0.2
