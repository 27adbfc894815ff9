"""Exported files in the engines and inside the libraries' own test-time code; ``hrnet-mm infer``."""
import copy
import json
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from hrnet_mm.apis import build_model, export_onnx
from hrnet_mm.apis.runtime import attach_engine, default_engine, engine_model, open_engine
from hrnet_mm.cli import main
from hrnet_mm.errors import ConfigError, InputError
from hrnet_mm.testing.cli import one_line_cli_error
from hrnet_mm.testing.exports import config_on_data, save_random_checkpoint

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'
DEMOS = {
    'seg': str(CONFIGS / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'),
    'pose': str(CONFIGS / 'hrnet_pose' / 'td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py'),
    'cls': str(CONFIGS / 'hrnet_cls' / 'hrnet-w18s-v1-c_1xb32-1000it_synthetic-64x64.py'),
    'det': str(CONFIGS / 'hrnet_det' / 'faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256.py'),
    'ocr': str(CONFIGS / 'hrnet_seg' / 'ocrnet_hrnetv2-w18_4xb2-40k_cityscapes-512x1024.py'),  # cascade heads
}


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Random-weight checkpoints of the demo configs (BN statistics randomized) and their dynamic ONNX files."""
    root = tmp_path_factory.mktemp('exported')
    cache = {}

    def get(task: str):
        if task not in cache:
            checkpoint = save_random_checkpoint(DEMOS[task], root / f'{task}.pth')
            shape = (1, 3, 128, 128) if task != 'pose' else (1, 3, 128, 96)
            cache[task] = checkpoint, export_onnx(DEMOS[task], checkpoint, root / f'{task}.onnx', shape,
                                                  dynamic=True)
        return cache[task]
    return get


def _config_on(task: str, data_root: Path, tmp_path: Path, extra: str = '') -> str:
    """A config inheriting the demo of ``task`` with its data at ``data_root`` and in-process loading."""
    return config_on_data(DEMOS[task], data_root, tmp_path / f'{task}_on_data.py', extra)


def _first_batch(cfg, library):
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    with DefaultScope.overwrite_default_scope(library.name):
        return next(iter(Runner.build_dataloader(copy.deepcopy(cfg.test_dataloader))))


def test_open_engine_refuses_unknown_engines_missing_files_and_names_missing_packages(tmp_path, exported,
                                                                                    monkeypatch):
    _, onnx_file = exported('seg')
    with pytest.raises(ConfigError, match="engine must be one of \\('onnxruntime', 'openvino'\\), got 'tensorrt'"):
        open_engine(onnx_file, 'tensorrt')
    with pytest.raises(ConfigError, match='does not exist'):
        open_engine(tmp_path / 'none.onnx')
    monkeypatch.setitem(sys.modules, 'openvino', None)
    with pytest.raises(ImportError, match=r"the openvino engine needs openvino: .* pip install 'hrnet_mm\[deploy\]'"):
        open_engine(onnx_file, 'openvino')


def test_without_a_choice_the_fastest_installed_engine_runs(exported, monkeypatch):
    _, onnx_file = exported('seg')
    # docs/deploy.md measured OpenVINO faster than onnxruntime in every case, so it comes first
    assert default_engine() == 'openvino' and open_engine(onnx_file).name == 'openvino'
    monkeypatch.setitem(sys.modules, 'openvino', None)
    assert default_engine() == 'onnxruntime' and open_engine(onnx_file).name == 'onnxruntime'
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    with pytest.raises(ImportError, match=r"neither is installed; install them with: pip install 'hrnet_mm\[deploy\]'"):
        open_engine(onnx_file)


def test_engine_runs_inside_mmseg_test_step(exported, seg_data, tmp_path):
    checkpoint, onnx_file = exported('seg')
    config = _config_on('seg', seg_data, tmp_path)
    model, library, cfg = build_model(config, checkpoint)
    batch = _first_batch(cfg, library)
    with torch.no_grad():
        expected = model.test_step(batch)
        got = attach_engine(copy.deepcopy(model), library, open_engine(onnx_file)).test_step(batch)
    assert len(got) == len(expected) == 8
    for g, e in zip(got, expected):
        assert g.seg_logits.data.shape == e.seg_logits.data.shape == (6, 64, 64)  # resized to the image by mmseg
        scale = e.seg_logits.data.abs().max()
        torch.testing.assert_close(g.seg_logits.data, e.seg_logits.data, rtol=0, atol=1e-4 * scale)
        assert (g.pred_sem_seg.data == e.pred_sem_seg.data).float().mean() > 0.999


@pytest.mark.parametrize('engine', ['onnxruntime', 'openvino'])
def test_engine_runs_inside_a_cascade_segmentor(exported, engine):
    # OCRNet: two decode heads; the file computes the last one's logits, mmseg resizes them to the image
    checkpoint, onnx_file = exported('ocr')
    model, library, _ = build_model(DEMOS['ocr'], checkpoint)
    x = torch.randn(2, 3, 96, 160, generator=torch.Generator().manual_seed(3))
    metas = [dict(img_shape=(96, 160), pad_shape=(96, 160), ori_shape=(96, 160))] * 2
    with torch.no_grad():
        expected = model.encode_decode(x, metas)
        got = attach_engine(copy.deepcopy(model), library, open_engine(onnx_file, engine)).encode_decode(x, metas)
    assert got.shape == expected.shape == (2, 19, 96, 160)
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_engine_runs_inside_mmpose_flip_test(exported, pose_data, tmp_path):
    checkpoint, onnx_file = exported('pose')
    config = _config_on('pose', pose_data, tmp_path, 'model = dict(test_cfg=dict(output_heatmaps=True))\n')
    model, library, cfg = build_model(config, checkpoint)
    assert cfg.model.test_cfg.flip_test
    batch = _first_batch(cfg, library)
    calls = []
    engine = open_engine(onnx_file)
    run = engine.run
    engine.run = lambda x: calls.append(x.shape) or run(x)  # type: ignore[method-assign]
    with torch.no_grad():
        expected = model.test_step(batch)
        got = attach_engine(copy.deepcopy(model), library, engine).test_step(batch)
    assert calls == [(16, 3, 128, 96)] * 2  # the image and its mirror, as mmpose's flip test runs them
    for g, e in zip(got, expected):
        heatmaps = e.pred_fields.heatmaps
        assert heatmaps.shape == (17, 32, 24)
        torch.testing.assert_close(g.pred_fields.heatmaps, heatmaps, rtol=0, atol=1e-4 * heatmaps.abs().max())
        np.testing.assert_allclose(g.pred_instances.keypoints, e.pred_instances.keypoints, atol=0.5)


def test_engine_model_of_a_detector_needs_its_heads(exported):
    _, onnx_file = exported('det')
    with pytest.raises(ConfigError, match='backbone \\+ neck of a detector; pass the checkpoint'):
        engine_model(DEMOS['det'], onnx_file)


def _images(root: Path, pattern: str, count: int):
    return [str(p) for p in sorted(root.glob(pattern))[:count]]


def _infer(config, model_file, images, out_dir, *extra):
    assert main(['infer', config, str(model_file), *images, '--out-dir', str(out_dir), *extra]) == 0
    pictures = sorted((out_dir / 'visualizations').glob('*.*'))
    assert len(pictures) == len(images) and all(cv2.imread(str(p)) is not None for p in pictures)
    return pictures, sorted((out_dir / 'predictions').glob('*.*'))


@pytest.mark.parametrize('engine', ['onnxruntime', 'openvino'])
def test_infer_segmentation_pictures_match_the_pytorch_path(exported, seg_data, tmp_path, engine):
    checkpoint, onnx_file = exported('seg')
    images = _images(seg_data / 'images' / 'validation', '*.png', 2)
    _, engine_maps = _infer(DEMOS['seg'], onnx_file, images, tmp_path / 'onnx', '--engine', engine)
    _, torch_maps = _infer(DEMOS['seg'], checkpoint, images, tmp_path / 'torch')
    assert len(engine_maps) == len(torch_maps) == 2
    for a, b in zip(engine_maps, torch_maps):
        got, expected = cv2.imread(str(a), cv2.IMREAD_UNCHANGED), cv2.imread(str(b), cv2.IMREAD_UNCHANGED)
        assert got.shape[:2] == (64, 64) and (got == expected).mean() > 0.999


def test_infer_pose_keypoints_match_the_pytorch_path(exported, pose_data, tmp_path):
    checkpoint, onnx_file = exported('pose')
    images = _images(pose_data / 'images' / 'val', '*.png', 2)
    _, engine_json = _infer(DEMOS['pose'], onnx_file, images, tmp_path / 'onnx')
    _, torch_json = _infer(DEMOS['pose'], checkpoint, images, tmp_path / 'torch')
    assert len(engine_json) == len(torch_json) == 2
    for a, b in zip(engine_json, torch_json):
        (got,), (expected,) = json.loads(a.read_text()), json.loads(b.read_text())
        np.testing.assert_allclose(got['keypoints'], expected['keypoints'], atol=0.5)
        np.testing.assert_allclose(got['keypoint_scores'], expected['keypoint_scores'], rtol=1e-3, atol=1e-4)


def test_infer_classification_labels_match_the_pytorch_path(exported, tmp_path):
    from hrnet_mm.synthetic.cls_data import generate
    data = generate(str(tmp_path / 'cls_data'), train=6, val=6, size=64, seed=0)
    checkpoint, onnx_file = exported('cls')
    images = _images(data / 'val', '*/*.png', 3)
    _, engine_json = _infer(DEMOS['cls'], onnx_file, images, tmp_path / 'onnx')
    _, torch_json = _infer(DEMOS['cls'], checkpoint, images, tmp_path / 'torch')
    for a, b in zip(engine_json, torch_json):
        got, expected = json.loads(a.read_text()), json.loads(b.read_text())
        assert got['label'] == expected['label'] and got['score'] == pytest.approx(expected['score'], abs=1e-4)


def test_infer_detector_runs_its_heads_on_the_engine_features(exported, det_data, tmp_path):
    checkpoint, onnx_file = exported('det')
    images = _images(det_data / 'images' / 'val', '*.png', 1) or _images(det_data, '**/*.png', 1)
    _infer(DEMOS['det'], onnx_file, images, tmp_path / 'onnx', '--checkpoint', checkpoint)


def test_infer_mistakes_are_one_line(exported, tmp_path, capsys):
    _, onnx_file = exported('seg')
    for argv, expected in [
            (['infer', DEMOS['seg'], str(onnx_file), str(tmp_path / 'none.png')], 'none.png does not exist'),
            (['infer', DEMOS['seg'], str(onnx_file), __file__], 'is not a readable image'),
            (['infer', DEMOS['seg'], str(tmp_path / 'none.onnx'), __file__], 'none.onnx does not exist'),
            (['infer', DEMOS['seg'], str(tmp_path / 'none.pth'), __file__], 'none.pth does not exist'),
            (['infer', 'hrnet_seg/none.py', str(onnx_file), __file__], 'not found')]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and expected in err, err


def test_infer_and_export_without_their_packages_say_what_to_install_in_one_line(exported, tmp_path, capsys,
                                                                                monkeypatch):
    checkpoint, onnx_file = exported('seg')
    for name in ('openvino', 'onnxruntime'):
        monkeypatch.setitem(sys.modules, name, None)
    err = one_line_cli_error(['infer', DEMOS['seg'], str(onnx_file), __file__], capsys)
    assert 'neither is installed' in err and 'hrnet_mm[deploy]' in err
    monkeypatch.setitem(sys.modules, 'onnx', None)
    err = one_line_cli_error(['export', DEMOS['seg'], checkpoint, '--out', str(tmp_path / 'm.onnx')], capsys)
    assert 'ONNX export needs onnx: onnx is not installed' in err and 'hrnet_mm[deploy]' in err
    assert not (tmp_path / 'm.onnx').exists()


# --- files the engines cannot use, and images: one line naming the file ----------------------------

def _onnx_graph(path: Path, node, initializers=(), domain: str = '', **save) -> str:
    """A one-node ONNX file taking an image batch (dynamic size)."""
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph([node], 'g', [helper.make_tensor_value_info('input', TensorProto.FLOAT,
                                                                            [1, 3, 'h', 'w'])],
                              [helper.make_tensor_value_info('out', TensorProto.FLOAT, None)],
                              initializer=list(initializers))
    opsets = [helper.make_opsetid('', 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path), **save)
    return str(path)


def _bad_onnx(kind: str, root: Path) -> str:
    from onnx import helper, numpy_helper
    path = root / f'{kind}.onnx'
    if kind == 'garbage':
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'unknown-op':  # a node of an operator domain neither engine knows
        _onnx_graph(path, helper.make_node('Frobnicate', ['input'], ['out'], domain='acme.ops'), domain='acme.ops')
    elif kind == 'missing-external-data':
        weight = numpy_helper.from_array(np.full((1, 3, 1, 1), 2, np.float32), 'w')
        _onnx_graph(path, helper.make_node('Mul', ['input', 'w'], ['out']), [weight], save_as_external_data=True,
                    location=f'{kind}.data', size_threshold=0)
        (root / f'{kind}.data').unlink()
    return str(path)


@pytest.mark.parametrize('engine', ['onnxruntime', 'openvino'])
@pytest.mark.parametrize('kind', ['garbage', 'empty', 'unknown-op', 'missing-external-data'])
def test_onnx_files_the_engine_cannot_open_end_in_one_line_naming_them(kind, engine, tmp_path, capsys):
    bad = _bad_onnx(kind, tmp_path)
    with pytest.raises(InputError, match=f'^{re.escape(bad)}: cannot be opened by {engine}: .+'):
        open_engine(bad, engine)
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), np.full((8, 8, 3), 128, np.uint8))
    err = one_line_cli_error(['infer', DEMOS['seg'], bad, str(image), '--engine', engine], capsys)
    assert err.startswith(f'hrnet-mm infer: {bad}: cannot be opened by {engine}: ') and 'Traceback' not in err
    assert len(err) < 450 and 'Exception from src/' not in err  # OpenVINO's C++ locations are dropped


@pytest.mark.parametrize('engine', ['onnxruntime', 'openvino'])
def test_a_file_that_opens_but_fails_to_run_is_named_with_the_input_shape(engine, tmp_path):
    from onnx import helper, numpy_helper
    shape = numpy_helper.from_array(np.array([1, 5], np.int64), 'shape')  # fits no image batch
    path = _onnx_graph(tmp_path / 'reshape.onnx', helper.make_node('Reshape', ['input', 'shape'], ['out']), [shape])
    with pytest.raises(InputError, match=f'^{re.escape(path)}: {engine} failed on an input of shape '
                                         r'\(1, 3, 8, 8\): .+'):
        open_engine(path, engine)(torch.zeros(1, 3, 8, 8))


@pytest.fixture(scope='module')
def large_png(tmp_path_factory) -> Path:
    """12000 x 12000 pixels of one grey: 144 megapixels (432 MB decoded as BGR) in about 150 KB."""
    path = tmp_path_factory.mktemp('large') / 'large.png'
    cv2.imwrite(str(path), np.full((12000, 12000), 77, np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert path.stat().st_size < 1_000_000
    return path


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if anything decodes an image's pixels (OpenCV, mmcv or PIL)."""
    import mmcv
    from PIL import Image

    def refuse(*args, **kwargs):
        raise AssertionError('an image was decoded')
    for owner, name in [(cv2, 'imread'), (cv2, 'imdecode'), (mmcv, 'imread'), (mmcv, 'imfrombytes'),
                        (Image.Image, 'load')]:
        monkeypatch.setattr(owner, name, refuse)


def test_an_image_over_the_pixel_limit_is_refused_without_being_decoded(exported, large_png, tmp_path, capsys,
                                                                       no_decoding, monkeypatch):
    checkpoint, onnx_file = exported('pose')
    monkeypatch.delenv('HRNET_MM_MAX_IMAGE_PIXELS', raising=False)
    for argv in (['infer', DEMOS['pose'], str(onnx_file), str(large_png)],
                 ['infer-pose', DEMOS['pose'], checkpoint, str(large_png)]):
        err = one_line_cli_error([*argv, '--out-dir', str(tmp_path)], capsys)
        assert f'image {large_png} is 12000x12000 = 144,000,000 pixels, over the limit of 100,000,000' in err
        assert '--max-pixels N or HRNET_MM_MAX_IMAGE_PIXELS=N' in err
    assert not any(tmp_path.iterdir())  # nothing was drawn


def test_the_pixel_limit_comes_from_the_option_then_the_environment(exported, tmp_path, capsys, monkeypatch):
    _, onnx_file = exported('seg')
    image = tmp_path / 'small.png'
    cv2.imwrite(str(image), np.full((30, 40, 3), 128, np.uint8))
    argv = ['infer', DEMOS['seg'], str(onnx_file), str(image), '--out-dir', str(tmp_path / 'out')]
    monkeypatch.setenv('HRNET_MM_MAX_IMAGE_PIXELS', '1000')
    assert 'is 40x30 = 1,200 pixels, over the limit of 1,000' in one_line_cli_error(argv, capsys)
    assert 'over the limit of 1,199' in one_line_cli_error([*argv, '--max-pixels', '1199'], capsys)
    monkeypatch.setenv('HRNET_MM_MAX_IMAGE_PIXELS', 'lots')
    assert "HRNET_MM_MAX_IMAGE_PIXELS must be a positive integer (pixels), got 'lots'" in \
        one_line_cli_error(argv, capsys)
    assert 'argument --max-pixels: expected a positive integer, got 0' in \
        one_line_cli_error([*argv, '--max-pixels', '0'], capsys)


def test_damaged_images_are_one_line_naming_them(exported, tmp_path, capsys):
    _, onnx_file = exported('seg')
    pixels = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    for name in ('whole.png', 'whole.jpg'):
        cv2.imwrite(str(tmp_path / name), pixels)
        data = (tmp_path / name).read_bytes()
        (tmp_path / f'truncated{Path(name).suffix}').write_bytes(data[:len(data) // 2])
    (tmp_path / 'empty.png').write_bytes(b'')
    from PIL import Image
    Image.fromarray(pixels).save(tmp_path / 'icon.ico')  # an image PIL reads and OpenCV does not
    for name, expected in [('truncated.png', 'is damaged or truncated (Truncated File Read)'),
                           ('truncated.jpg', 'is damaged or truncated (OpenCV cannot decode it)'),
                           ('empty.png', 'is not a readable image'),
                           ('icon.ico', 'is in ICO format, which OpenCV')]:
        path = tmp_path / name
        err = one_line_cli_error(['infer', DEMOS['seg'], str(onnx_file), str(path), '--out-dir',
                                  str(tmp_path / 'out')], capsys)
        assert err.startswith(f'hrnet-mm infer: image {path} ') and expected in err, err


def test_images_down_to_one_pixel_run_end_to_end(exported, tmp_path):
    # mmseg's visualizer read a one-pixel prediction tensor as the index 1 and failed; its maps are
    # now drawn from arrays. The other libraries ran such images already (pose below).
    checkpoint, onnx_file = exported('seg')
    images = []
    for h, w in [(1, 1), (2, 2), (1, 7), (7, 1)]:
        images.append(str(tmp_path / f'tiny_{h}x{w}.png'))
        cv2.imwrite(images[-1], np.full((h, w, 3), 200, np.uint8))
    pictures, maps = _infer(DEMOS['seg'], onnx_file, images, tmp_path / 'seg')
    assert {p.name: cv2.imread(str(p)).shape[:2] for p in pictures} == {
        'tiny_1x1.png': (1, 1), 'tiny_2x2.png': (2, 2), 'tiny_1x7.png': (1, 7), 'tiny_7x1.png': (7, 1)}
    # mmseg numbers its prediction maps in the order of the images
    assert [cv2.imread(str(m), cv2.IMREAD_UNCHANGED).shape for m in maps] == [(1, 1), (2, 2), (1, 7), (7, 1)]
    checkpoint, _ = exported('pose')
    out = tmp_path / 'pose'
    assert main(['infer-pose', DEMOS['pose'], checkpoint, images[0], '--out-dir', str(out)]) == 0
    assert cv2.imread(str(out / 'visualizations' / 'tiny_1x1.png')).shape[:2] == (1, 1)
