import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MMLogger
from mmengine.runner.checkpoint import CheckpointLoader

import hrnet_mm  # noqa: F401  (routes mmengine's loading through the checked loader)
from hrnet_mm.models import HRNet


def test_mmengine_checkpoint_contents_load_through_mmengines_loader(tmp_path):
    buffer = HistoryBuffer()
    for value in (np.float64(0.5), 1.5, 2.0):
        buffer.update(value)
    checkpoint = {
        'meta': {'epoch': 1, 'seed': np.int64(3), 'arr': np.arange(3, dtype=np.int32)},
        'message_hub': {'log_scalars': {'train/loss': buffer}, 'runtime_info': {'iter': np.int64(7)}},
        'state_dict': {'w': torch.ones(2)},
    }
    path = tmp_path / 'ckpt.pth'
    torch.save(checkpoint, path)
    loaded = CheckpointLoader.load_checkpoint(str(path), map_location='cpu')  # what runners call
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == pytest.approx(4 / 3)
    assert loaded['meta']['arr'].tolist() == [0, 1, 2] and loaded['meta']['seed'] == 3


def _save(model, path, **extra):
    torch.save({'state_dict': {**model.state_dict(), **extra}}, path)
    return str(path)


def test_imagenet_style_checkpoint_loads_and_logs_ignored_keys(tmp_path):
    source = HRNet(arch='w18-small-v1')
    path = _save(source, tmp_path / 'imagenet.pth', **{'incre_modules.0.0.conv1.weight': torch.zeros(1),
                                                       'classifier.weight': torch.zeros(1000, 2048)})
    model = HRNet(arch='w18-small-v1', multiscale_output=False,
                  init_cfg=dict(type='Pretrained', checkpoint=path))
    logger = MMLogger.get_current_instance()
    records = []
    handler = type('H', (__import__('logging').Handler,), {'emit': lambda self, r: records.append(r.getMessage())})()
    logger.addHandler(handler)
    try:
        model.init_weights()
    finally:
        logger.removeHandler(handler)
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert torch.equal(model.stage4[0].fuse_layers[0][1][0].weight, source.stage4[0].fuse_layers[0][1][0].weight)
    message = ' '.join(records)
    assert 'classifier' in message and 'incre_modules' in message and 'stage4.0.fuse_layers.1' in message


def test_prefixed_checkpoint_loads_through_prefix(tmp_path):
    source = HRNet(arch='w18-small-v1')
    path = tmp_path / 'full.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in source.state_dict().items()}}, path)
    model = HRNet(arch='w18-small-v1', init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone'))
    model.init_weights()
    assert torch.equal(model.stage3[0].branches[2][1].conv2.weight, source.stage3[0].branches[2][1].conv2.weight)
    with pytest.raises(ValueError, match="prefix='backbone.'"):
        HRNet(arch='w18-small-v1', init_cfg=dict(type='Pretrained', checkpoint=str(path))).init_weights()


def test_checkpoint_of_another_width_names_shapes_and_width(tmp_path):
    path = _save(HRNet(arch='w18'), tmp_path / 'w18.pth')
    model = HRNet(arch='w32', init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(ValueError) as err:
        model.init_weights()
    text = str(err.value)
    assert 'HRNet-W18' in text and 'HRNet-W32' in text and 'checkpoint (18,' in text
