"""What a checkpoint or an exported file was made for, read back from its tensors and compared with a
config's model (``hrnet_mm.apis.compatibility``): the task, the classes or keypoints, the image channels
and the HRNet branch widths, before anything runs."""
import copy
from pathlib import Path

import pytest
import torch

from hrnet_mm.apis import build_model, export_onnx, quantize_onnx
from hrnet_mm.apis.compatibility import (
                                         METADATA_KEY,
                                         ModelMismatchError,
                                         ModelTraits,
                                         check_checkpoint_fits,
                                         check_export_fits,
                                         export_differences,
                                         read_onnx,
                                         state_dict_differences,
                                         traits_of_state_dict,
)

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'
SEG = str(CONFIGS / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py')
POSE = str(CONFIGS / 'hrnet_pose' / 'td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py')
W18S_V1 = (16, 32, 64, 128)  # the w18-small-v1 preset's branches (the seg demo's `widths`)
W18 = (18, 36, 72, 144)  # HRNet-W18's branches, as the paper gives them


@pytest.mark.parametrize('config, expected', [
    (SEG, ModelTraits('segmentation', 6, 3, W18S_V1)),
    (POSE, ModelTraits('pose', 17, 3, W18)),
    (str(CONFIGS / 'hrnet_cls' / 'hrnet-w18s-v1-c_1xb32-1000it_synthetic-64x64.py'),
     ModelTraits('classification', 6, 3, W18S_V1)),
    (str(CONFIGS / 'hrnet_face' / 'td-hm_hrnetv2-w18s-v1_1xb32-30e_synthetic-96x96.py'),
     ModelTraits('pose', 68, 3, W18S_V1)),
    (str(CONFIGS / 'hrnet_det' / 'faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256.py'),
     ModelTraits('detection', 3, 3, W18)),
], ids=['seg', 'pose', 'cls', 'face', 'det'])
def test_traits_are_what_the_config_chose(config, expected):
    assert traits_of_state_dict(build_model(config)[0].state_dict()) == expected


def test_the_last_head_of_a_cascade_gives_the_classes():
    ocr = str(CONFIGS / 'hrnet_seg' / 'ocrnet_hrnetv2-w18_4xb2-40k_cityscapes-512x1024.py')
    assert traits_of_state_dict(build_model(ocr)[0].state_dict()) == ModelTraits('segmentation', 19, 3, W18)


def _strict_load_fails(model, state_dict) -> bool:
    try:
        copy.deepcopy(model).load_state_dict(state_dict, strict=True)
    except RuntimeError:
        return True
    return False


def test_differences_are_found_exactly_where_a_strict_load_fails():
    model = build_model(SEG)[0]
    own = model.state_dict()
    first_conv = next(k for k, v in own.items() if v.dim() == 4)
    variants = {
        'same': dict(own),
        'extra key': {**own, 'decode_head.extra.weight': torch.zeros(1)},
        'missing key': {k: v for k, v in own.items() if k != first_conv},
        'reshaped': {**own, first_conv: torch.zeros(1, *own[first_conv].shape[1:])},
    }
    # torch refuses a missing num_batches_tracked; mmengine's loader (and this check) allow it
    tracked = {k: v for k, v in own.items() if not k.endswith('num_batches_tracked')}
    for name, state in variants.items():
        assert bool(state_dict_differences(own, state)) == _strict_load_fails(model, state), name
    assert state_dict_differences(own, tracked) == []


def _save(path: Path, payload) -> str:
    torch.save(payload, path)
    return str(path)


@pytest.mark.parametrize('stock, ours', [
    ('mmseg::hrnet/fcn_hr18s_4xb2-160k_cityscapes-512x1024.py',
     'hrnet_seg/fcn_hrnetv2-w18s_4xb2-160k_cityscapes-512x1024.py'),
    ('mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
     'hrnet_pose/td-hm_hrnetv1-w32_4xb32-210e_coco-256x192.py'),
], ids=['mmseg', 'mmpose'])
def test_stock_checkpoints_still_load_in_each_layout(stock, ours, tmp_path):
    weights = build_model(stock)[0].state_dict()  # the tensors a stock release holds, randomly initialized
    files = {'state_dict and meta': _save(tmp_path / 'release.pth', dict(meta=dict(note='stock'), state_dict=weights))}
    if stock.startswith('mmseg'):  # the other layouts once, on the smaller model
        files['weights only'] = _save(tmp_path / 'weights.pth', weights)
        files['DataParallel prefix'] = _save(tmp_path / 'ddp.pth', {f'module.{k}': v for k, v in weights.items()})
    for layout, path in files.items():
        loaded = build_model(ours, path)[0].state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in weights.items()), layout


def test_a_checkpoint_of_another_model_is_named_in_one_short_line(tmp_path):
    pose_checkpoint = _save(tmp_path / 'pose.pth', dict(state_dict=build_model(POSE)[0].state_dict(), meta={}))
    with pytest.raises(ModelMismatchError) as caught:
        build_model(SEG, pose_checkpoint)
    assert str(caught.value) == (
        'pose.pth does not fit fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py: it is a pose model of 17 '
        "keypoints, the config a segmentation model of 6 classes; its HRNet branches are 18/36/72/144 wide, the "
        "config's 16/32/64/128")


def test_only_the_tensors_are_named_where_the_traits_agree(tmp_path):
    model = build_model(SEG)[0]
    state = dict(model.state_dict())
    state['decode_head.conv_seg.bias'] = torch.zeros(7)  # 6 classes by the weight, 7 by the bias
    with pytest.raises(ModelMismatchError, match=r"^x\.pth does not fit seg\.py: 1 tensor\(s\) differ in shape, "
                                                 r"e\.g\. decode_head\.conv_seg\.bias \(7,\) vs the config's \(6,\)$"):
        check_checkpoint_fits(model, state, 'x.pth', 'configs/seg.py')


@pytest.fixture(scope='module')
def seg_files(tmp_path_factory):
    """The seg demo's model exported to ONNX (float32, dynamic) and quantized to int8, random weights."""
    root = tmp_path_factory.mktemp('compat')
    fp32 = export_onnx(SEG, None, root / 'seg.onnx', (1, 3, 64, 64), dynamic=True, verify=False)
    int8 = root / 'seg.int8.onnx'
    quantize_onnx(fp32, int8, [torch.randn(1, 3, 64, 64)])
    return fp32, int8


def _config_variant(tmp_path: Path, name: str, model: str) -> str:
    path = tmp_path / f'{name}.py'
    path.write_text(f"_base_ = ['{SEG}']\nmodel = {model}\n")
    return str(path)


VARIANTS = {  # a variant of the seg demo's config -> what a file of the demo is told
    'classes': ("dict(decode_head=dict(num_classes=4))", 'it predicts 6 classes, the config 4'),
    'channels': ("dict(backbone=dict(in_channels=4))", 'it takes 3-channel images, the config 4-channel ones'),
    'width': ("dict(backbone=dict(arch='w18-small-v2'), decode_head=dict(in_channels=[18, 36, 72, 144], "
              "channels=270))", "its HRNet branches are 16/32/64/128 wide, the config's 18/36/72/144"),
}


@pytest.mark.parametrize('kind', ['fp32', 'int8'])
def test_exports_record_what_they_were_made_for(seg_files, kind):
    fp32, int8 = seg_files
    recorded = [p.value for p in read_onnx(fp32 if kind == 'fp32' else int8).metadata_props if p.key == METADATA_KEY]
    assert [ModelTraits.from_json(text) for text in recorded] == [ModelTraits('segmentation', 6, 3, W18S_V1)]


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_an_export_under_another_config_is_named_with_what_differs(seg_files, tmp_path, variant):
    model_text, expected = VARIANTS[variant]
    config = _config_variant(tmp_path, variant, model_text)
    for path in seg_files:
        with pytest.raises(ModelMismatchError) as caught:
            check_export_fits(build_model(config)[0], path, config)
        assert str(caught.value) == f'{Path(path).name} does not fit {variant}.py: {expected}'
    check_export_fits(build_model(SEG)[0], seg_files[1], SEG)  # its own config: nothing to say


def test_an_export_without_the_record_is_compared_by_its_shapes(seg_files, tmp_path):
    import onnx
    old = onnx.load(str(seg_files[0]))
    del old.metadata_props[:]  # as hrnet_mm wrote files before it recorded anything
    own = build_model(SEG)[0].state_dict()
    assert export_differences(own, old) == []
    told = {variant: export_differences(build_model(_config_variant(tmp_path, variant, text))[0].state_dict(), old)
            for variant, (text, _) in VARIANTS.items()}
    assert told == {
        'classes': ['it predicts 6 classes, the config 4'],
        'channels': ['it takes 3-channel images, the config 4-channel ones'],
        'width': ["it has no 3x3 convolution 18 channels wide, as the config's HRNet branches 18/36/72/144 have"],
    }
    pose = build_model(POSE)[0].state_dict()
    assert export_differences(pose, old)[0] == 'it is a segmentation model of 6 classes, the config a pose model of ' \
                                               '17 keypoints'


def test_foreign_or_damaged_records_and_files_are_left_to_the_engine(tmp_path):
    assert ModelTraits.from_json('{"task": "painting"}') is None
    assert ModelTraits.from_json('[1, 2]') is None and ModelTraits.from_json('not json') is None
    assert ModelTraits.from_json('{"task": "pose", "outputs": true}') is None  # a bool is no count
    damaged = tmp_path / 'damaged.onnx'
    damaged.write_bytes(b'\x08\x07garbage')
    check_export_fits(build_model(SEG)[0], damaged, SEG)  # no verdict: open_engine names the file's problem
    check_export_fits(build_model(SEG)[0], tmp_path / 'missing.onnx', SEG)
