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
# Other widths and schedules of an architecture built here are checked against mmdet's stock models and the
# paper's parameter counts on the meta device (below), HTC by one small forward: each CPU forward takes seconds.
BY_PARAMS = {'htc_hrnetv2p-w18-20e_coco', 'htc_hrnetv2p-w32-20e_coco', 'htc_hrnetv2p-w48-20e_coco',
             'htc_hrnetv2p-w48-28e_coco', 'cascade-rcnn_hrnetv2p-w18-20e_coco', 'cascade-rcnn_hrnetv2p-w48-20e_coco',
             'cascade-mask-rcnn_hrnetv2p-w18-20e_coco', 'cascade-mask-rcnn_hrnetv2p-w48-20e_coco',
             'fcos_hrnetv2p-w48-gn-head_4xb4-1x_coco'}
BUILT = [p for p in BUILT if p.stem not in BY_PARAMS]


# (the multi-scale FCOS 2x config has no 1x twin: test_w48_schedules_are_the_w48_model_on_the_stock_schedule)
@pytest.mark.parametrize('path', [p for p in CONFIGS if '-2x_' in p.name and '_ms-' not in p.name],
                         ids=lambda p: p.stem)
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


# ---- HTC, Cascade (Mask) R-CNN at W18 / W48, Mask R-CNN 2x, FCOS W48: the rest of the paper's table ----

def _config(stem: str) -> Config:
    return Config.fromfile(str(CONFIGS[0].parent / f'{stem}.py'))


def _plain(value):
    """A config value without the ``_scope_`` keys that inheriting across packages (``mmdet::``) adds."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _state_shapes(cfg: Config) -> dict:
    with torch.device('meta'):  # shapes only: no weights materialized
        model = build(cfg)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_every_detector_of_the_rest_of_the_paper_table_has_a_config():
    names = {p.stem for p in CONFIGS}
    for arch in ('w18', 'w32', 'w48'):
        assert {f'htc_hrnetv2p-{arch}-20e_coco', f'mask-rcnn_hrnetv2p-{arch}-2x_coco'} <= names, arch
    for arch in ('w18', 'w32', 'w48'):
        assert {f'cascade-rcnn_hrnetv2p-{arch}-20e_coco', f'cascade-mask-rcnn_hrnetv2p-{arch}-20e_coco'} <= names
    assert {'htc_hrnetv2p-w48-28e_coco', 'fcos_hrnetv2p-w48-gn-head_4xb4-1x_coco',
            'fcos_hrnetv2p-w48-gn-head_ms-640-800-4xb4-2x_coco'} <= names
    for stem in BY_PARAMS:
        cfg = _config(stem)
        assert cfg.model.backbone.type == 'hrnet_mm.HRNet' and cfg.model.neck.type == 'hrnet_mm.HRNetV2pNeck'
        width = int(cfg.model.backbone.arch[1:])
        assert cfg.model.neck.in_channels == [width, 2 * width, 4 * width, 8 * width], stem
        assert cfg.model.backbone.init_cfg.checkpoint == f'open-mmlab://msra/hrnetv2_w{width}', stem


@pytest.mark.parametrize('stem, stock_name', [
    ('htc_hrnetv2p-w18-20e_coco', 'htc_hrnetv2p-w18_20e_coco'),
    ('htc_hrnetv2p-w32-20e_coco', 'htc_hrnetv2p-w32_20e_coco'),
    ('cascade-rcnn_hrnetv2p-w18-20e_coco', 'cascade-rcnn_hrnetv2p-w18-20e_coco'),
    ('cascade-mask-rcnn_hrnetv2p-w18-20e_coco', 'cascade-mask-rcnn_hrnetv2p-w18_20e_coco'),
    ('mask-rcnn_hrnetv2p-w18-2x_coco', 'mask-rcnn_hrnetv2p-w18-2x_coco'),
    ('mask-rcnn_hrnetv2p-w32-2x_coco', 'mask-rcnn_hrnetv2p-w32-2x_coco')])
def test_detector_equals_mmdets_stock_model_and_schedule(stem, stock_name):
    ours, stock = _config(stem), Config.fromfile(str(STOCK / f'{stock_name}.py'))
    assert stock.model.backbone.type == 'HRNet' and stock.model.neck.type == 'HRFPN'
    # Same state-dict keys and shapes: mmdet-trained checkpoints of the stock model load strictly.
    assert _state_shapes(ours) == _state_shapes(stock)
    assert ours.train_cfg.max_epochs == stock.train_cfg.max_epochs
    assert _plain(ours.param_scheduler) == _plain(stock.param_scheduler)
    assert _plain(ours.train_dataloader.dataset.pipeline) == _plain(stock.train_dataloader.dataset.pipeline)


@pytest.mark.parametrize('stem, paper', [
    ('mask-rcnn_hrnetv2p-w18-2x_coco', 30.1), ('mask-rcnn_hrnetv2p-w32-2x_coco', 49.9),
    ('cascade-rcnn_hrnetv2p-w18-20e_coco', 55.1), ('cascade-rcnn_hrnetv2p-w32-20e_coco', 74.9),
    ('cascade-rcnn_hrnetv2p-w48-20e_coco', 111.0), ('cascade-mask-rcnn_hrnetv2p-w18-20e_coco', 63.1),
    ('cascade-mask-rcnn_hrnetv2p-w32-20e_coco', 82.9), ('cascade-mask-rcnn_hrnetv2p-w48-20e_coco', 118.9),
    ('htc_hrnetv2p-w48-20e_coco', 121.9), ('fcos_hrnetv2p-w18-gn-head_4xb4-1x_coco', 17.5),
    ('fcos_hrnetv2p-w32-gn-head_4xb4-1x_coco', 37.3)])
def test_params_match_the_papers_complexity_table(stem, paper):
    """The paper's Table VII: these frameworks' counts are plain millions (unlike its Faster R-CNN column)."""
    with torch.device('meta'):
        model = build(_config(stem))
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == paper


@pytest.mark.parametrize('stem, base, epochs, milestones, stock_name', [
    ('htc_hrnetv2p-w48-28e_coco', 'htc_hrnetv2p-w48-20e_coco', 28, [24, 27], 'htc_hrnetv2p-w40_28e_coco'),
    ('mask-rcnn_hrnetv2p-w48-2x_coco', 'mask-rcnn_hrnetv2p-w48-1x_coco', 24, [16, 22],
     'mask-rcnn_hrnetv2p-w40-2x_coco'),
    ('fcos_hrnetv2p-w48-gn-head_ms-640-800-4xb4-2x_coco', 'fcos_hrnetv2p-w48-gn-head_4xb4-1x_coco', 24, [16, 22],
     'fcos_hrnetv2p-w40-gn-head_ms-640-800-4xb4-2x_coco')])
def test_w48_schedules_are_the_w48_model_on_the_stock_schedule(stem, base, epochs, milestones, stock_name):
    cfg, model_base, stock = _config(stem), _config(base), Config.fromfile(str(STOCK / f'{stock_name}.py'))
    assert cfg.model.to_dict() == model_base.model.to_dict() and cfg.model.backbone.arch == 'w48'
    assert cfg.train_cfg.max_epochs == epochs and cfg.param_scheduler[1].milestones == milestones
    # the stock W40 config of that schedule: same schedule and training pipeline
    assert _plain(cfg.param_scheduler) == _plain(stock.param_scheduler)
    assert _plain(cfg.train_dataloader.dataset.pipeline) == _plain(stock.train_dataloader.dataset.pipeline)


def test_multi_scale_fcos_w48_trains_at_two_scales():
    cfg = _config('fcos_hrnetv2p-w48-gn-head_ms-640-800-4xb4-2x_coco')
    resize = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomChoiceResize']
    assert len(resize) == 1 and [tuple(s) for s in resize[0].scales] == [(1333, 640), (1333, 800)]
    assert cfg.model.neck.stride == 2 and cfg.model.neck.num_outs == 5


def test_htc_builds_through_mmdet_and_predicts_masks():
    """One forward for the HTC family (its semantic branch reads the neck's levels too), kept small."""
    cfg = _config('htc_hrnetv2p-w18-20e_coco')
    assert cfg.default_scope == 'mmdet' and cfg.model.type == 'HybridTaskCascade'
    cfg.model.test_cfg.rpn.nms_pre, cfg.model.test_cfg.rpn.max_per_img = 200, 50
    cfg.model.test_cfg.rcnn.max_per_img = 10
    model = build(cfg)
    assert isinstance(model.backbone, hrnet_mm.HRNet)
    h, w = 141, 190
    meta = dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0), batch_input_shape=(h, w),
                pad_shape=(h, w))
    with torch.no_grad():
        (result,) = model.predict(torch.rand(1, 3, h, w) * 255, [DetDataSample(metainfo=meta)])
    boxes = result.pred_instances.bboxes
    assert boxes.ndim == 2 and boxes.shape[-1] == 4 and len(boxes) <= 10
    assert result.pred_instances.masks.shape[-2:] == (h, w)


def test_reference_results_of_the_metafile_are_the_readmes_published_numbers():
    import re

    import yaml

    folder = CONFIGS[0].parent
    readme = (folder / 'README.md').read_text()
    models = [m for m in yaml.safe_load((folder / 'metafile.yml').read_text())['Models'] if 'Reference Results' in m]
    assert {m['Name'] for m in models} >= {'htc_hrnetv2p-w48-28e_coco', 'cascade-rcnn_hrnetv2p-w48-20e_coco'}
    for model in models:
        assert 'Results' not in model  # not trained by us
        (row,) = re.findall(r'^\| %s \| (.*)$' % re.escape(model['Name']), readme, re.M)
        paper_cell, mmdet_cell = row.split(' | ')[3:5]
        for result in model['Reference Results']:
            assert result['Source'].endswith('not trained by us') and result['Dataset'] == 'COCO'
            cell = paper_cell if result['Source'].startswith('paper') else mmdet_cell
            for value in result['Metrics'].values():
                assert f'{value}' in cell, (model['Name'], result)
