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


@pytest.mark.parametrize('path', CONFIGS, ids=[p.stem for p in CONFIGS])
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
