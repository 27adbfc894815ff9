"""A drop-in for the stock OpenMMLab HRNets: their call forms, names, return types and error types."""
import pytest
import torch
from mmengine.registry import DefaultScope
from torch import nn

from hrnet_mm.errors import ConfigError
from hrnet_mm.models import HRModule, HRNet
from hrnet_mm.models.dropin import build_hrmodule, build_hrnet
from hrnet_mm.registry import MODELS
from hrnet_mm.testing.twins import randomize_norms, stock_extra


def _extra(arch='w18-small-v1', **stage4):
    extra = stock_extra(arch)
    extra['stage4'].update(stage4)
    return extra


def _randomize(model: nn.Module, seed: int = 1) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():  # GN layers too: every weight differs from its init
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    randomize_norms(model, seed)


def _same_outputs(stock: nn.Module, ours: nn.Module, size=(1, 3, 96, 128)):
    _randomize(stock)
    ours.load_state_dict(stock.state_dict(), strict=True)
    stock.eval(), ours.eval()
    x = torch.rand(*size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, got = stock(x), ours(x)
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)


def test_outputs_are_a_tuple_as_openmmlab_backbones_return():
    outs = HRNet(arch='w18-small-v1').eval()(torch.rand(1, 3, 64, 64))
    assert isinstance(outs, tuple) and len(outs) == 4


def test_a_positional_legacy_extra_means_what_it_means_to_the_stock_class():
    from mmpose.models.backbones import HRNet as MMPoseHRNet  # reads stage4.multiscale_output and upsample
    extra = _extra(multiscale_output=False)
    extra['upsample'] = dict(mode='bilinear', align_corners=False)
    ours = build_hrnet(extra, channels_last=False)
    assert ours.out_indices == (0,) and ours.upsample_cfg['mode'] == 'bilinear'
    _same_outputs(MMPoseHRNet(extra), ours)


def test_a_stock_mmseg_config_switched_by_type_alone_computes_mmseg_function():
    from mmseg.models.backbones import HRNet as MMSegHRNet
    from mmseg.registry import MODELS as MMSEG_MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        ours = MMSEG_MODELS.build(dict(type='hrnet_mm.HRNet', extra=_extra(), channels_last=False))
    assert ours.upsample_cfg == dict(mode='bilinear', align_corners=False)
    _same_outputs(MMSegHRNet(_extra()), ours, size=(1, 3, 256, 320))


def test_a_legacy_extra_stamped_with_our_scope_keeps_the_building_library_defaults():
    # mmengine stamps _scope_='hrnet_mm' on dicts inherited from an hrnet_mm:: base; mmseg still builds.
    from mmseg.registry import MODELS as MMSEG_MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        ours = MMSEG_MODELS.build(dict(type='hrnet_mm.HRNet', extra=_extra(), _scope_='hrnet_mm'))
    assert ours.upsample_cfg == dict(mode='bilinear', align_corners=False)


def test_the_same_legacy_extra_under_mmpose_gives_mmpose_function():
    from mmpose.models.backbones import HRNet as MMPoseHRNet
    from mmpose.registry import MODELS as MMPOSE_MODELS
    with DefaultScope.overwrite_default_scope('mmpose'):
        ours = MMPOSE_MODELS.build(dict(type='hrnet_mm.HRNet', extra=_extra(), channels_last=False))
    assert ours.out_indices == (0,) and ours.upsample_cfg['mode'] == 'nearest'
    _same_outputs(MMPoseHRNet(_extra()), ours)


def test_norm_layers_are_named_by_type_and_exposed_as_norm_k():
    from mmseg.models.backbones import HRNet as MMSegHRNet
    gn = dict(type='GN', num_groups=8)
    stock = MMSegHRNet(_extra(), norm_cfg=gn)
    ours = build_hrnet(extra=_extra(), norm_cfg=gn, channels_last=False, upsample_cfg=dict(mode='bilinear'))
    assert list(ours.state_dict()) == list(stock.state_dict())  # gn1, layer1.0.gn3, ... in the same order
    assert ours.norm1 is ours.gn1 and isinstance(ours.norm2, nn.GroupNorm)
    assert ours.layer1[0].norm3 is ours.layer1[0].gn3 and ours.stage2[0].branches[0][0].norm2 is not None
    _same_outputs(stock, ours)
    bn = HRNet(arch='w18-small-v1')
    assert bn.norm1 is bn.bn1 and bn.layer1[0].norm3 is bn.layer1[0].bn3


def test_gn_model_exports_like_the_bn_one():
    model = HRNet(arch='w18-small-v1', norm_cfg=dict(type='GN', num_groups=8)).eval()
    x = torch.rand(1, 3, 64, 64)
    exported = torch.export.export(model, (x,)).module()
    with torch.no_grad():
        for e, g in zip(model(x), exported(x)):
            torch.testing.assert_close(g, e)


@pytest.mark.parametrize('kwargs', [dict(arch='w17'), dict(arch=dict(stage1={})), dict(frozen_stages=7)])
def test_invalid_architectures_raise_value_and_assertion_errors(kwargs):
    for error in (ValueError, AssertionError):
        with pytest.raises(error):
            HRNet(**kwargs)
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, AssertionError)


def test_feature_info_names_modules_that_exist_and_produce_the_outputs():
    model = HRNet(arch='w18-small-v1', out_indices=(1, 3)).eval()
    modules = dict(model.named_modules())
    captured = {}
    for info in model.feature_info:
        assert info['module'] in modules
        modules[info['module']].register_forward_hook(lambda m, i, o, name=info['module']: captured.update({name: o}))
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    for info, out in zip(model.feature_info, outs):
        torch.testing.assert_close(captured[info['module']][info['index']].contiguous(), out)
        assert out.shape[1] == info['num_chs'] and 64 // out.shape[-1] == info['reduction']


def test_hrmodule_takes_the_stock_signature():
    from mmseg.models.backbones.resnet import BasicBlock as StockBasic
    from mmseg.models.backbones.resnet import Bottleneck as StockBottleneck
    positional = build_hrmodule(2, StockBasic, (1, 1), [8, 16], [8, 16], True)
    keyword = MODELS.build(dict(type='HRModule', num_branches=2, blocks=StockBottleneck, num_blocks=(1, 1),
                                in_channels=[32, 64], num_channels=[8, 16]))
    ours = HRModule([8, 16], [8, 16], [1, 1], 'BASIC')
    assert list(positional.state_dict()) == list(ours.state_dict())
    assert keyword.out_channels == [32, 64] and keyword.num_branches == 2
    with pytest.raises(ValueError, match='num_branches'):
        build_hrmodule(3, StockBasic, (1, 1), [8, 16], [8, 16])


def test_hrmodule_takes_mmpose_and_mmpretrain_block_classes():
    from mmpose.models.backbones.resnet import BasicBlock as PoseBasic
    from mmpretrain.models.backbones.resnet import Bottleneck as PretrainBottleneck
    pose = build_hrmodule(2, PoseBasic, (1, 1), [8, 16], [8, 16])  # 5 positional: stock default multiscale_output
    assert len(pose.fuse_layers) == 2 and pose.out_channels == [8, 16]
    pretrain = build_hrmodule(num_branches=2, block=PretrainBottleneck, num_blocks=(1, 1), in_channels=[32, 64],
                        num_channels=[8, 16])  # mmpretrain names it block=
    assert pretrain.out_channels == [32, 64]
    with DefaultScope.overwrite_default_scope('mmpose'):  # mmpose's HRModule defaults to one output
        assert len(build_hrmodule(num_branches=2, blocks=PoseBasic, num_blocks=(1, 1), in_channels=[8, 16],
                            num_channels=[8, 16]).fuse_layers) == 1


def test_stock_positional_orders():
    ours = build_hrnet(_extra(), 1)  # mmseg / mmpose / mmdet: (extra, in_channels)
    assert ours.in_channels == 1 and ours.conv1.in_channels == 1
    with pytest.raises(ConfigError, match='pass arguments by keyword'):
        build_hrnet(_extra(), 1, None, dict(type='BN'))
    # mmpretrain: (arch, extra, in_channels, conv_cfg, norm_cfg, norm_eval, with_cp, zero_init_residual, ...)
    ours = build_hrnet('w18-small-v1', None, 3, None, dict(type='BN'), False, True, True)
    assert ours.with_cp and ours.zero_init_residual and ours.frozen_stages == -1


def test_a_stock_mmdet_config_keeps_mmdet_frozen_bn_statistics():
    from mmdet.registry import MODELS as MMDET_MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        legacy = MMDET_MODELS.build(dict(type='hrnet_mm.HRNet', extra=_extra()))
        explicit = MMDET_MODELS.build(dict(type='hrnet_mm.HRNet', extra=_extra(), norm_eval=False))
    assert legacy.norm_eval and not explicit.norm_eval
    assert not build_hrnet(extra=_extra()).norm_eval and not HRNet(arch='w18-small-v1').norm_eval
