"""The benign controls: a published checkpoint of each demo config works in its library's inferencer."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub

import hrnet_mm  # noqa: F401
from hrnet_mm.checkpoint import hash_in_name, publish_checkpoint

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
DEMOS = {
    'seg': CONFIGS / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py',
    'det': CONFIGS / 'hrnet_det' / 'faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256.py',
    'cls': CONFIGS / 'hrnet_cls' / 'hrnet-w18s-v1-c_1xb32-1000it_synthetic-64x64.py',
}


def _build(task: str, cfg: Config) -> torch.nn.Module:
    registry = {'seg': 'mmseg.registry', 'det': 'mmdet.registry', 'cls': 'mmpretrain.registry'}[task]
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.default_scope)
    return __import__(registry, fromlist=['MODELS']).MODELS.build(cfg.model)


def _inferencer(task: str, config: str, weights: str):
    if task == 'seg':
        from mmseg.apis import MMSegInferencer
        return MMSegInferencer(model=config, weights=weights, device='cpu')
    if task == 'det':
        from mmdet.apis import DetInferencer
        return DetInferencer(model=config, weights=weights, device='cpu', show_progress=False)
    from mmpretrain.apis import ImageClassificationInferencer
    return ImageClassificationInferencer(model=config, pretrained=weights, device='cpu')


@pytest.mark.parametrize('task', sorted(DEMOS))
def test_a_published_run_checkpoint_loads_in_the_librarys_inferencer(task, tmp_path):
    cfg = Config.fromfile(str(DEMOS[task]))
    model = _build(task, cfg)
    hub = MessageHub.get_instance(f'published-{task}')
    hub.update_scalar('train/loss', np.float64(0.25))
    torch.manual_seed(0)
    with torch.no_grad():  # weights no initializer would produce, so a silent non-load shows
        for p in model.parameters():
            p.uniform_(-0.1, 0.1)
    run = tmp_path / 'iter_8.pth'
    torch.save({'meta': {'iter': 8, 'cfg': cfg.pretty_text, 'seed': np.int64(0)}, 'state_dict': model.state_dict(),
                'message_hub': hub.state_dict(), 'optimizer': {'state': {}, 'param_groups': []}}, run)
    published = publish_checkpoint(run, tmp_path / 'release' / f'demo_{task}.pth')
    assert hash_in_name(published) is not None
    inferencer = _inferencer(task, str(DEMOS[task]), str(published))
    name = next(k for k, v in model.state_dict().items() if v.is_floating_point() and v.dim() == 4)
    assert torch.equal(inferencer.model.state_dict()[name].cpu(), model.state_dict()[name])
    image = (np.random.default_rng(0).random((96, 96, 3)) * 255).astype(np.uint8)
    result = inferencer(image, return_datasamples=True) if task != 'cls' else inferencer(image)
    assert result['predictions'] if isinstance(result, dict) else result
