import pytest
import torch

from hrnet_mm.models import HRNet, HRNetV2Neck, HRNetV2pNeck
from hrnet_mm.registry import MODELS


def _feats(widths, h, w):
    out = []
    for c in widths:
        out.append(torch.rand(1, c, h, w))
        h, w = (h + 1) // 2, (w + 1) // 2
    return out


def test_v2_concatenates_15c_channels_at_highest_resolution():
    backbone = HRNet(arch='w18').eval()
    neck = HRNetV2Neck(backbone.out_channels).eval()
    with torch.no_grad():
        (out,) = neck(backbone(torch.rand(1, 3, 130, 98)))
    assert tuple(out.shape) == (1, 15 * 18, 33, 25)
    assert neck.out_channels == 270


def test_v2_first_channels_are_the_untouched_highest_branch_and_optional_conv():
    feats = _feats([4, 8, 16, 32], 20, 20)
    with torch.no_grad():
        (plain,) = HRNetV2Neck([4, 8, 16, 32]).eval()(feats)
        (mixed,) = HRNetV2Neck([4, 8, 16, 32], out_channels=12).eval()(feats)
    assert torch.equal(plain[:, :4], feats[0])
    assert tuple(mixed.shape) == (1, 12, 20, 20) and mixed.min() >= 0  # conv-BN-ReLU


def test_v2p_pyramid_strides_and_registry():
    neck = MODELS.build(dict(type='HRNetV2pNeck', in_channels=[18, 36, 72, 144], out_channels=16, num_outs=5)).eval()
    assert isinstance(neck, HRNetV2pNeck)
    with torch.no_grad():
        outs = neck(_feats([18, 36, 72, 144], 94, 125))
    assert [tuple(o.shape[-2:]) for o in outs] == [(94, 125), (47, 63), (24, 32), (12, 16), (6, 8)]
    assert all(o.shape[1] == 16 for o in outs)


def test_v2p_floor_mode_max_pool_and_with_cp_gradients():
    feats = _feats([4, 8], 30, 30)
    neck = HRNetV2pNeck([4, 8], 6, num_outs=3, pooling_type='MAX', ceil_mode=False)
    assert [tuple(o.shape[-2:]) for o in neck(feats)] == [(30, 30), (15, 15), (7, 7)]
    cp_neck = HRNetV2pNeck([4, 8], 6, num_outs=3, with_cp=True)
    cp_neck.load_state_dict(neck.state_dict())
    grads = []
    for model in (HRNetV2pNeck([4, 8], 6, num_outs=3), cp_neck):
        model.load_state_dict(neck.state_dict())
        x = [f.clone().requires_grad_() for f in feats]
        sum(o.sum() for o in model(x)).backward()
        grads.append(x[1].grad)
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize('mode', ['nearest', 'nearest-exact', 'area', 'bicubic'])
def test_necks_take_every_resize_mode_of_the_backbone(mode):
    feats = _feats([4, 8], 21, 21)
    # torch's interpolate takes align_corners (here False) for bicubic only and raises if it is set otherwise.
    expected = torch.nn.functional.interpolate(feats[1], size=(21, 21), mode=mode,
                                               align_corners=False if mode == 'bicubic' else None)
    with torch.no_grad():
        (v2,) = HRNetV2Neck([4, 8], upsample_cfg=dict(mode=mode)).eval()(feats)
        v2p = HRNetV2pNeck([4, 8], 4, num_outs=2, upsample_cfg=dict(mode=mode)).eval()(feats)
    torch.testing.assert_close(v2[:, 4:], expected)
    assert [tuple(o.shape) for o in v2p] == [(1, 4, 21, 21), (1, 4, 11, 11)]


def test_necks_reject_wrong_inputs():
    with pytest.raises(ValueError, match='pooling_type'):
        HRNetV2pNeck([4], 4, pooling_type='SUM')
    with pytest.raises(ValueError, match='expects 2 inputs'):
        HRNetV2Neck([4, 8])(_feats([4], 8, 8))


def test_every_neck_returns_a_tuple_as_mmseg_mmdet_and_mmpose_necks_do():
    from hrnet_mm.models import HRNetClsNeck
    feats = _feats([4, 8, 16, 32], 16, 16)
    for neck in (HRNetV2Neck([4, 8, 16, 32]), HRNetV2pNeck([4, 8, 16, 32], 8, num_outs=2),
                 HRNetClsNeck([4, 8, 16, 32])):
        assert type(neck.eval()(feats)) is tuple, type(neck).__name__
