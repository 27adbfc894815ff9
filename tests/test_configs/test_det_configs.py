from pathlib import Path

import mmdet
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config

import hrnet_mm
from hrnet_mm.apis import build_model

CONFIGS = sorted((Path(__file__).resolve().parents[2] / 'configs' / 'hrnet_det').glob('*.py'))
STOCK = Path(mmdet.__file__).parent / '.mim' / 'configs' / 'hrnet'


def build(cfg: Config):
    return build_model(cfg)[0]


def test_every_detector_of_the_paper_table_has_a_config():
    names = ' '.join(p.name for p in CONFIGS)
    for arch in ('w18', 'w32', 'w40', 'w48'):
        for sched in ('1x', '2x'):
            assert f'faster-rcnn_hrnetv2p-{arch}-{sched}_coco' in names
    for part in ('mask-rcnn_hrnetv2p-w18', 'mask-rcnn_hrnetv2p-w32', 'mask-rcnn_hrnetv2p-w48',
                 'cascade-rcnn_hrnetv2p-w32', 'cascade-mask-rcnn_hrnetv2p-w32', 'fcos_hrnetv2p-w18',
                 'fcos_hrnetv2p-w32', 'synthetic'):
        assert part in names, part


BUILT = [p for p in CONFIGS if '-2x_' not in p.name]  # a 2x config is its 1x model on a longer schedule


@pytest.mark.parametrize('path', [p for p in CONFIGS if '-2x_' in p.name], ids=lambda p: p.stem)
def test_2x_configs_are_the_1x_model_on_24_epochs(path):
    cfg = Config.fromfile(str(path))
    one_x = Config.fromfile(str(path).replace('-2x_', '-1x_'))
    assert cfg.model.to_dict() == one_x.model.to_dict()
    assert cfg.train_cfg.max_epochs == 24 and one_x.train_cfg.max_epochs == 12
    assert cfg.param_scheduler[1].milestones == [16, 22]
    import mmdet
    stock = Config.fromfile(str(Path(mmdet.__file__).parent / '.mim/configs/hrnet/faster-rcnn_hrnetv2p-w18-2x_coco.py'))
    assert cfg.param_scheduler == stock.param_scheduler


@pytest.mark.parametrize('path', BUILT, ids=[p.stem for p in BUILT])
def test_detector_builds_through_mmdet_and_predicts_on_odd_sizes(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmdet' and cfg.model.backbone.type == 'hrnet_mm.HRNet'
    assert cfg.model.neck.type == 'hrnet_mm.HRNetV2pNeck'
    test_cfg = cfg.model.test_cfg
    if 'rpn' in test_cfg:  # fewer proposals from the random-init RPN keep the test fast on CPU
        test_cfg.rpn.nms_pre, test_cfg.rpn.max_per_img = 200, 50
    model = build(cfg)
    assert isinstance(model.backbone, hrnet_mm.HRNet)
    # Sides that are not multiples of 32, unpadded; the full 500x375 for the smaller models.
    h, w = (375, 500) if 'w18' in path.name else (141, 190)
    meta = dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0), batch_input_shape=(h, w),
                pad_shape=(h, w))
    with torch.no_grad():
        (result,) = model.predict(torch.rand(1, 3, h, w) * 255, [DetDataSample(metainfo=meta)])
    boxes = result.pred_instances.bboxes
    assert boxes.ndim == 2 and boxes.shape[-1] == 4
    if len(boxes):
        assert boxes[:, 2].max() <= w + 1e-3 and boxes[:, 3].max() <= h + 1e-3
    if 'mask' in path.name:
        assert result.pred_instances.masks.shape[-2:] == (h, w)


@pytest.mark.parametrize('arch, stock_name, measured', [
    ('w18', 'faster-rcnn_hrnetv2p-w18-1x_coco', 27.48), ('w32', 'faster-rcnn_hrnetv2p-w32-1x_coco', 47.28),
    ('w40', 'faster-rcnn_hrnetv2p-w40-1x_coco', 63.53)])
def test_faster_rcnn_params_equal_mmdets_hrnet_hrfpn(arch, stock_name, measured):
    ours = build(Config.fromfile(str(CONFIGS[0].parent / f'faster-rcnn_hrnetv2p-{arch}-1x_coco.py')))
    stock = build(Config.fromfile(str(STOCK / f'{stock_name}.py')))
    assert type(stock.backbone) is not type(ours.backbone)
    count = [sum(p.numel() for p in m.parameters()) for m in (ours, stock)]
    assert count[0] == count[1]
    assert count[0] / 1e6 == pytest.approx(measured, abs=0.005)
    # Same keys and shapes too: mmdet-trained HRNet + HRFPN checkpoints load strictly.
    ours.load_state_dict(stock.state_dict(), strict=True)


@pytest.mark.parametrize('arch, paper', [('w18', 26.2), ('w32', 45.0), ('w40', 60.5), ('w48', 79.4)])
def test_faster_rcnn_params_match_the_paper_in_its_units(arch, paper):
    """The paper's detection table counts in units of 2**20 and leaves out BatchNorm's affine params."""
    with torch.device('meta'):  # counting only: no weights materialized
        model = build(Config.fromfile(str(CONFIGS[0].parent / f'faster-rcnn_hrnetv2p-{arch}-1x_coco.py')))
    total = sum(p.numel() for p in model.parameters())
    norm = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters())
    assert round((total - norm) / 2**20, 1) == paper
    assert round(total / 1e6, 1) != paper  # the plain count in millions does not match


def test_roi_features_do_not_depend_on_the_backbone_memory_format():
    """mmcv's CPU roi_align reads raw NCHW memory; channels-last inside must not leak into the heads."""
    path = next(p for p in CONFIGS if 'synthetic' in p.name)
    models = []
    for channels_last in (True, False):
        cfg = Config.fromfile(str(path))
        cfg.model.backbone.channels_last = channels_last
        torch.manual_seed(0)
        models.append(build(cfg).eval())
    models[1].load_state_dict(models[0].state_dict())
    x = torch.rand(1, 3, 96, 128)
    rois = torch.tensor([[0, 4.0, 6.0, 60.0, 50.0], [0, 30.0, 20.0, 120.0, 90.0], [0, 0.0, 0.0, 16.0, 16.0]])
    outs = []
    with torch.no_grad():
        for model in models:
            result = model.roi_head._bbox_forward(model.extract_feat(x), rois)
            outs.append((result['cls_score'], result['bbox_pred']))
    (cls_a, box_a), (cls_b, box_b) = outs
    assert cls_a.abs().max() > 0
    torch.testing.assert_close(cls_a, cls_b, rtol=1e-4, atol=1e-4 * cls_b.abs().max().item())
    torch.testing.assert_close(box_a, box_b, rtol=1e-4, atol=1e-4 * box_b.abs().max().item())
