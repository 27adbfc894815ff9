"""The GPU variants: the same model with cuda_graph on and AMP, building (and running eagerly) on CPU."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from hrnet_mm.apis import build_model
from hrnet_mm.cuda_graph import GraphedForward, graph_runner

CONFIGS = sorted((Path(__file__).resolve().parents[2] / 'configs').glob('*/*_cuda-graph-amp.py'))


def test_every_task_has_a_gpu_variant():
    assert {p.parent.name for p in CONFIGS} == {'hrnet_seg', 'hrnet_pose', 'hrnet_det'}


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_gpu_variant_is_its_base_with_cuda_graph_and_amp(path):
    cfg = Config.fromfile(str(path))
    base = Config.fromfile(str(path.parent / (cfg.filename.split('/')[-1].replace('_cuda-graph-amp', ''))))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.optimizer == base.optim_wrapper.optimizer
    graph = cfg.model.backbone.pop('cuda_graph')
    assert graph is True or isinstance(graph, dict)
    assert cfg.model.to_dict() == base.model.to_dict()


@pytest.mark.parametrize('path', [p for p in CONFIGS if 'synthetic' in p.name], ids=lambda p: p.stem)
def test_demo_gpu_variant_builds_and_runs_eagerly_on_cpu(path):
    model, _, _ = build_model(str(path))
    assert graph_runner(model.backbone) is None and isinstance(model.backbone.forward, GraphedForward)
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 64, 64), None, mode='tensor')
    assert logits.shape == (1, 6, 16, 16)
