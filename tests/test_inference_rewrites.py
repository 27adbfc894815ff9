"""Inference rewrites: BN folding, channels-last, torch.compile without graph breaks, bf16 autocast."""
import copy
from pathlib import Path

import pytest
import torch
from mmcv.cnn import ConvModule
from torch import nn

from hrnet_mm.inference_rewrites import count_batchnorms, fuse_conv_bn, switch_to_deploy, to_channels_last
from hrnet_mm.models import HRNet
from hrnet_mm.testing.twins import randomize_norms

REPO = Path(__file__).resolve().parents[1]
DEMO_SEG = REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'
BILINEAR = dict(mode='bilinear', align_corners=False)


def _hrnet(arch: str = 'w18-small-v1', deploy: bool = False, **kwargs) -> HRNet:
    """A seeded eval-mode HRNet with non-trivial BN statistics, BN-folded when ``deploy``."""
    torch.manual_seed(0)
    model = HRNet(arch=arch, **kwargs)
    model.init_weights()
    randomize_norms(model, seed=1, affine=True)
    model.eval()
    return switch_to_deploy(model) if deploy else model


def _assert_close(got, expected, rtol: float = 1e-5) -> None:
    """Equal up to float rounding, relative to each output's scale (Kaiming init gives large activations)."""
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        torch.testing.assert_close(g, e, rtol=rtol, atol=rtol * e.abs().max().item())


@pytest.mark.parametrize('arch, upsample_cfg, multiscale_output',
                         [('w18-small-v1', BILINEAR, True), ('w18-small-v2', None, False)])
def test_folded_hrnet_equals_the_eval_model(arch, upsample_cfg, multiscale_output):
    model = _hrnet(arch, upsample_cfg=upsample_cfg, multiscale_output=multiscale_output)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        expected = model(x)
    convs_before = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    deployed = switch_to_deploy(copy.deepcopy(model).train())
    assert not deployed.training and count_batchnorms(model) > 0 and count_batchnorms(deployed) == 0
    assert sum(isinstance(m, nn.Conv2d) for m in deployed.modules()) == convs_before
    assert all(m.bias is not None for m in deployed.modules() if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        _assert_close(deployed(x), expected)


def test_folded_mmseg_segmentor_from_the_demo_config_equals_the_eval_model():
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    cfg = Config.fromfile(str(DEMO_SEG))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    randomize_norms(model, seed=1, affine=True)
    model.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x, None, mode='tensor')
        deployed = switch_to_deploy(model)  # backbone, fusion paths and the FCN head's ConvModules
        got = deployed(x, None, mode='tensor')
    assert count_batchnorms(deployed) == 0
    _assert_close([got], [expected])


def test_only_conv_then_bn_pairs_with_running_statistics_are_folded():
    conv_first = ConvModule(8, 8, 3, padding=1, norm_cfg=dict(type='BN'))
    norm_first = ConvModule(8, 8, 3, padding=1, norm_cfg=dict(type='BN'), order=('norm', 'conv', 'act'))
    batch_stats = nn.Sequential(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8, track_running_stats=False))
    model = nn.Sequential(conv_first, norm_first, batch_stats)
    randomize_norms(model, seed=1, affine=True)
    model.eval()
    x = torch.rand(2, 8, 16, 16)
    with torch.no_grad():
        expected = model(x)
        fuse_conv_bn(model)
        got = model(x)
    assert isinstance(conv_first.bn, nn.Identity)
    assert isinstance(norm_first.bn, nn.BatchNorm2d)  # BN before its conv: not foldable into it
    assert isinstance(batch_stats[1], nn.BatchNorm2d)  # batch statistics: nothing fixed to fold
    _assert_close([got], [expected])


@pytest.mark.parametrize('deploy', [False, True])
def test_channels_last_model_and_input_give_the_same_outputs(deploy):
    model = _hrnet(deploy=deploy, upsample_cfg=BILINEAR)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        expected = model(x)
        got = to_channels_last(model)(x.contiguous(memory_format=torch.channels_last))
    _assert_close(got, expected)


@pytest.mark.parametrize('deploy, train', [(False, False), (True, False), (False, True)])
def test_torch_compile_traces_the_backbone_without_graph_breaks(deploy, train):
    model = _hrnet(deploy=deploy)
    model.train(train)
    torch._dynamo.reset()
    try:
        explanation = torch._dynamo.explain(model)(torch.rand(1, 3, 64, 64))
    finally:
        torch._dynamo.reset()
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.parametrize('deploy', [False, True])
def test_bf16_autocast_on_cpu_stays_close_to_float32(deploy):
    # Measured: relative (Frobenius) error 0.6-1.1% over seeds and the small presets; 3% leaves margin.
    model = _hrnet(deploy=deploy, upsample_cfg=BILINEAR)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        expected = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            got = model(x)
    for g, e in zip(got, expected):
        assert g.dtype == torch.bfloat16 and torch.isfinite(g).all()
        assert ((g.float() - e).norm() / e.norm()).item() < 0.03


def test_folded_weights_equal_torchs_own_fusion_and_transposed_convs_fold_too():
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                          nn.ConvTranspose2d(8, 6, 4, stride=2, padding=1), nn.BatchNorm2d(6),
                          nn.ConvTranspose2d(6, 6, 3, padding=1, groups=2), nn.BatchNorm2d(6))
    randomize_norms(model, seed=1, affine=True)
    model.eval()
    reference = [fuse_conv_bn_eval(copy.deepcopy(model[i]), model[i + 1], transpose=i > 0) for i in (0, 2)]
    x = torch.rand(2, 4, 16, 16)
    with torch.no_grad():
        expected = model(x)
        fuse_conv_bn(model)
        got = model(x)
    assert isinstance(model[1], nn.Identity) and isinstance(model[3], nn.Identity)
    assert isinstance(model[5], nn.BatchNorm2d)  # grouped transposed conv: left as it is
    for i, ref in zip((0, 2), reference):
        torch.testing.assert_close(model[i].weight, ref.weight, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(model[i].bias, ref.bias, rtol=1e-6, atol=1e-7)
    _assert_close([got], [expected])
