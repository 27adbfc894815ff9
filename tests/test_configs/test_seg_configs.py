from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import hrnet_mm
from hrnet_mm.apis import build_model

CONFIGS = sorted((Path(__file__).resolve().parents[2] / 'configs' / 'hrnet_seg').glob('*.py'))


def test_every_segmentation_task_has_a_config():
    names = ' '.join(p.name for p in CONFIGS)
    for part in ('fcn_hrnetv2-w18s_', 'fcn_hrnetv2-w18_', 'fcn_hrnetv2-w48_', 'w48_4xb3-120k', 'w40_',
                 'ocrnet_hrnetv2-w18_', 'ocrnet_hrnetv2-w48_', 'pascal-context-480', 'pascal-context-59',
                 'ade20k-512x512', 'lip-473x473', '40k', '80k', '160k'):
        assert part in names, part


# The 520x520 PASCAL-Context configs run the network of their 480x480 base (asserted below): no second forward.
FORWARD = [p for p in CONFIGS if not p.name.endswith('520x520_paper.py')]


@pytest.mark.parametrize('path', FORWARD, ids=[p.stem for p in FORWARD])
def test_config_builds_through_mmseg_and_runs_forward(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmseg' and 'hrnet_mm' in cfg.custom_imports['imports']
    assert cfg.model.backbone.type == 'hrnet_mm.HRNet'
    if 'synthetic' not in path.name:
        assert cfg.model.backbone.init_cfg.checkpoint.startswith('open-mmlab://msra/hrnetv2_w')
        assert cfg.model.backbone.upsample_cfg == dict(mode='bilinear', align_corners=False)
    model, library, _ = build_model(cfg)  # as a CPU user would: BN for SyncBN, no download
    assert library.name == 'mmseg'
    assert isinstance(model.backbone, hrnet_mm.HRNet)
    heads = cfg.model.decode_head if isinstance(cfg.model.decode_head, list) else [cfg.model.decode_head]
    assert all(h.in_channels == model.backbone.out_channels for h in heads)
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 64, 96), mode='tensor')
    assert tuple(logits.shape) == (1, heads[-1].num_classes, 16, 24)


def test_paper_schedule_matches_the_paper():
    cfg = Config.fromfile(str(next(p for p in CONFIGS if p.name.startswith('fcn_hrnetv2-w48_4xb3-120k'))))
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', 0.01, 0.9, 0.0005)
    assert cfg.train_cfg.max_iters == 120000 and cfg.train_dataloader.batch_size * 4 == 12
    assert cfg.param_scheduler[0].power == 0.9 and cfg.param_scheduler[0].end == 120000
    assert cfg.crop_size == (512, 1024)


def test_wrong_backbone_argument_fails_clearly():
    cfg = Config.fromfile(str(CONFIGS[0]))
    cfg.model.backbone.arch = 'w17'
    with pytest.raises(ValueError, match=r"arch must be one of \['w18', "):
        build_model(cfg)


@pytest.mark.parametrize('suffix, classes', [('', 60), ('-59', 59)])
def test_pascal_context_paper_configs_use_the_authors_520x520_recipe(suffix, classes):
    from mmengine.optim import build_optim_wrapper

    folder = CONFIGS[0].parent
    cfg = Config.fromfile(str(folder / f'fcn_hrnetv2-w48_4xb4-62k_pascal-context{suffix}-520x520_paper.py'))
    base = Config.fromfile(str(folder / f'fcn_hrnetv2-w48_4xb4-80k_pascal-context{suffix}-480x480.py'))
    assert base.crop_size == (480, 480) and cfg.crop_size == (520, 520)
    # the network is mmseg's 480x480 one; only the padding size and the test window follow the crop
    assert cfg.model.backbone == base.model.backbone and cfg.model.decode_head == base.model.decode_head
    assert cfg.model.decode_head.num_classes == classes and cfg.model.data_preprocessor.size == (520, 520)
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(520, 520), stride=(347, 347))
    # training pipeline: mmseg's, with the 520x520 crop
    pipeline, stock = cfg.train_dataloader.dataset.pipeline, base.train_dataloader.dataset.pipeline
    assert [t.type for t in pipeline] == [t.type for t in stock]
    for ours, theirs in zip(pipeline, stock):
        assert ours == (dict(theirs, crop_size=(520, 520)) if ours.type == 'RandomCrop' else theirs)
    assert cfg.train_dataloader.dataset.type == base.train_dataloader.dataset.type
    # 200 epochs of 4,998 images at batch 16 (4 GPUs x 4), poly 0.9 down to 0
    assert cfg.train_dataloader.batch_size * 4 == 16 and cfg.train_cfg.max_iters == 200 * (4998 // 16) == 62400
    (poly,) = cfg.param_scheduler
    assert (poly.type, poly.power, poly.eta_min, poly.end) == ('PolyLR', 0.9, 0.0, 62400)
    # SGD lr 0.001 for the backbone, 10x for the head (the authors' non-backbone multiplier)
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', 0.001, 0.9, 0.0001)
    with torch.device('meta'):
        model = build_model(cfg)[0]
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    lrs = {(names[id(p)].split('.')[0], group['lr']) for group in optimizer.param_groups for p in group['params']}
    assert lrs == {('backbone', 0.001), ('decode_head', 0.01)}


def test_reference_results_of_the_pascal_context_paper_configs():
    import yaml

    folder = CONFIGS[0].parent
    readme = (folder / 'README.md').read_text()
    models = {m['Name']: m for m in yaml.safe_load((folder / 'metafile.yml').read_text())['Models']}
    for suffix, dataset, miou in [('', 'PASCAL Context', 48.3), ('-59', 'PASCAL Context 59', 54.0)]:
        stem = f'fcn_hrnetv2-w48_4xb4-62k_pascal-context{suffix}-520x520_paper'
        model = models[stem]
        assert 'Results' not in model and model['Metadata']['Training Data'] == dataset
        (result,) = model['Reference Results']
        assert result['Dataset'] == dataset and result['Metrics'] == {'mIoU(ms+flip)': miou}
        assert result['Source'].startswith('paper') and result['Source'].endswith('not trained by us')
        row = next(line for line in readme.splitlines() if line.startswith(f'| {stem} |'))
        assert f'| {miou} (' in row
