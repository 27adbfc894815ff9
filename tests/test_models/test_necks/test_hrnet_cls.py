import pytest
import timm
import torch
from mmengine.registry import DefaultScope

from hrnet_mm.models import HRNet, HRNetClsNeck
from hrnet_mm.registry import MODELS
from hrnet_mm.testing.twins import randomize_norms

HEAD_ROOTS = ('incre_modules', 'downsamp_modules', 'final_layer')


def _feats(widths, size, batch=2):
    return [torch.randn(batch, c, size // 2**b, size // 2**b) for b, c in enumerate(widths)]


def test_pooled_2048_features_from_a_backbone_tuple_or_list():
    backbone = HRNet(arch='w18-small-v1', multiscale_output=True).eval()
    neck = HRNetClsNeck(backbone.out_channels).eval()
    with torch.no_grad():
        feats = backbone(torch.rand(3, 3, 96, 64))
        out = neck(feats)
        again = neck(list(feats))
    assert isinstance(out, tuple) and len(out) == 1
    assert tuple(out[0].shape) == (3, 2048)
    assert out[0].min() >= 0  # pooled after the final ReLU
    torch.testing.assert_close(out[0], again[0], rtol=0, atol=0)


def test_without_pooling_the_map_sits_at_the_lowest_branch():
    dense = HRNetClsNeck([18, 36, 72, 144], with_pool=False).eval()
    pooling = HRNetClsNeck([18, 36, 72, 144]).eval()
    pooling.load_state_dict(dense.state_dict())
    feats = _feats([18, 36, 72, 144], 32)
    with torch.no_grad():
        (fmap,), (pooled,) = dense(feats), pooling(feats)
    assert tuple(fmap.shape) == (2, 2048, 4, 4)
    torch.testing.assert_close(pooled, fmap.mean((2, 3)))


def test_widths_follow_the_official_head():
    neck = HRNetClsNeck([18, 36, 72, 144])
    assert [m[0].conv3.out_channels for m in neck.incre_modules] == [128, 256, 512, 1024]
    assert [(m[0].in_channels, m[0].out_channels, m[0].stride) for m in neck.downsamp_modules] == \
        [(128, 256, (2, 2)), (256, 512, (2, 2)), (512, 1024, (2, 2))]
    assert (neck.final_layer[0].in_channels, neck.final_layer[0].out_channels) == (1024, 2048)


def test_keys_and_features_equal_timm_hrnet_c_head():
    """Same key names as timm's (= the official) head; with its weights, the same pooled features."""
    ref = timm.create_model('hrnet_w18_small', pretrained=False).eval()
    randomize_norms(ref, seed=0, affine=True)
    head_state = {k: v for k, v in ref.state_dict().items() if k.split('.')[0] in HEAD_ROOTS}
    neck = HRNetClsNeck([16, 32, 64, 128]).eval()
    assert set(neck.state_dict()) == set(head_state)
    neck.load_state_dict(head_state, strict=True)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        stem = ref.act2(ref.bn2(ref.conv2(ref.act1(ref.bn1(ref.conv1(x))))))
        branches = ref.stages(stem)
        expected = ref.forward_features(x).mean((2, 3))
        (got,) = neck(branches)
    assert expected.abs().max() > 0.1  # not a trivially small comparison
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_every_branch_reaches_the_output():
    neck = HRNetClsNeck([4, 8, 16, 32], incre_channels=(2, 4, 8, 16), out_channels=64)
    feats = [f.requires_grad_() for f in _feats([4, 8, 16, 32], 16)]
    neck(feats)[0].sum().backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in feats)


def test_built_by_type_name_in_mmpretrain_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        from mmpretrain.registry import MODELS as PRETRAIN_MODELS
        neck = PRETRAIN_MODELS.build(dict(type='hrnet_mm.HRNetClsNeck', in_channels=[18, 36, 72, 144]))
    assert isinstance(neck, HRNetClsNeck)
    assert isinstance(MODELS.build(dict(type='HRNetClsNeck', in_channels=[4, 8], incre_channels=[2, 4])), HRNetClsNeck)


def test_default_init_is_kaiming_fan_out():
    neck = HRNetClsNeck([18, 36, 72, 144])
    neck.init_weights()
    weight = neck.final_layer[0].weight  # 2048 x 1024 x 1 x 1: fan_out = 2048
    assert abs(weight.std().item() - (2 / 2048) ** 0.5) < 0.05 * (2 / 2048) ** 0.5
    assert torch.count_nonzero(neck.final_layer[0].bias) == 0
    assert torch.all(neck.final_layer[1].weight == 1)


def test_rejects_wrong_inputs():
    neck = HRNetClsNeck([18, 36, 72, 144])
    with pytest.raises(ValueError, match='expects 4 branches, got 3'):
        neck(_feats([18, 36, 72], 32))
    with pytest.raises(ValueError, match='one width per branch'):
        HRNetClsNeck([18, 36], incre_channels=(32, 64, 128))
    with pytest.raises(ValueError, match='non-empty list'):
        HRNetClsNeck(18)
