from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import hrnet_mm
from hrnet_mm.apis import build_model
from hrnet_mm.complexity import count_gflops, count_params, paper_table

CONFIGS = sorted((Path(__file__).resolve().parents[2] / 'configs' / 'hrnet_pose').glob('*.py'))


def build(cfg: Config):
    return build_model(cfg)[0]


def _config(prefix: str) -> Path:
    return next(p for p in CONFIGS if p.name.startswith(prefix))


def test_every_pose_setting_has_a_config():
    names = ' '.join(p.name for p in CONFIGS)
    for part in ('w32_4xb32-210e_coco-256x192', 'w32_4xb32-210e_coco-384x288', 'w48_4xb32-210e_coco-256x192',
                 'w48_4xb32-210e_coco-384x288', 'w32_8xb64-210e_mpii-256x256', 'w48_8xb64-210e_mpii-256x256',
                 'w32_dark', 'w32_udp', 'synthetic'):
        assert part in names, part


@pytest.mark.parametrize('path', CONFIGS, ids=[p.stem for p in CONFIGS])
def test_pose_config_builds_through_mmpose_and_runs_forward(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmpose' and 'hrnet_mm' in cfg.custom_imports['imports']
    model = build(cfg)
    assert isinstance(model.backbone, hrnet_mm.HRNet) and model.backbone.out_indices == (0,)
    assert len(model.backbone.stage4[-1].fuse_layers) == 1  # V1: official pose layout
    w, h = cfg.codec['input_size']
    with torch.no_grad():
        heatmaps = model(torch.rand(1, 3, h, w), None, mode="tensor")
    assert tuple(heatmaps.shape[1:]) == (cfg.model.head.out_channels, *cfg.codec['heatmap_size'][::-1])


def test_paper_schedule():
    cfg = Config.fromfile(str(_config('td-hm_hrnetv1-w32_4xb32-210e_coco-256x192')))
    assert cfg.optim_wrapper.optimizer.type == 'Adam' and cfg.optim_wrapper.optimizer.lr == 1e-3
    assert cfg.train_cfg.max_epochs == 210
    steps = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR'][0]
    assert steps.milestones == [170, 200] and steps.gamma == 0.1
    assert cfg.model.test_cfg.flip_test is True


def test_w32_256x192_params_and_gflops_match_the_paper_table():
    row = next(r for r in paper_table()['pose'] if r['arch'] == 'w32' and r['input'] == [256, 192])
    model = build(Config.fromfile(str(_config('td-hm_hrnetv1-w32_4xb32-210e_coco-256x192'))))
    assert count_params(model) / 1e6 == pytest.approx(row['params_m'], abs=0.05)
    assert count_gflops(model, (3, 256, 192)) == pytest.approx(row['gflops'], rel=0.02)


def test_stock_mmpose_model_state_dict_loads_strictly_and_matches():
    import mmpose
    stock_cfg = Config.fromfile(str(Path(mmpose.__file__).parent / '.mim/configs/body_2d_keypoint/topdown_heatmap/coco'
                                    / 'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'))
    torch.manual_seed(0)
    stock = build(stock_cfg)
    ours = build(Config.fromfile(str(_config('td-hm_hrnetv1-w32_4xb32-210e_coco-256x192'))))
    assert type(stock.backbone) is not type(ours.backbone)
    ours.load_state_dict(stock.state_dict(), strict=True)
    x = torch.rand(1, 3, 256, 192)
    with torch.no_grad():
        torch.testing.assert_close(ours(x, None, mode="tensor"), stock(x, None, mode="tensor"), rtol=0, atol=1e-5)
