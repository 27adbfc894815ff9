import pytest
import torch
from torch import nn

from hrnet_mm.models.layers import DownsamplePath, HRModule, MultiResolutionFusion, UpsamplePath
from hrnet_mm.registry import MODELS


def _inputs(channels, h, w, batch=2):
    feats = []
    for c in channels:
        feats.append(torch.rand(batch, c, h, w))
        h, w = (h + 1) // 2, (w + 1) // 2
    return feats


def test_fusion_paths_layout_and_shapes():
    fusion = MultiResolutionFusion([8, 16, 32]).eval()
    assert isinstance(fusion[0][2], UpsamplePath) and isinstance(fusion[2][0], DownsamplePath)
    assert len(fusion[2][0]) == 2  # two chained stride-2 steps from 1/4 to 1/16
    assert fusion[2][0][0][0].out_channels == 8 and fusion[2][0][1][0].out_channels == 32
    xs = _inputs([8, 16, 32], 33, 21)
    with torch.no_grad():
        outs = fusion(xs)
    assert [o.shape for o in outs] == [x.shape for x in xs]


def test_fusion_output_is_relu_of_sum_of_paths():
    torch.manual_seed(0)
    fusion = MultiResolutionFusion([4, 8], norm_cfg=dict(type='BN')).eval()
    for m in fusion.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    xs = _inputs([4, 8], 16, 16)
    with torch.no_grad():
        outs = fusion([x.clone() for x in xs])
        up = nn.functional.interpolate(fusion[0][1][1](fusion[0][1][0](xs[1])), size=(16, 16), mode='nearest')
        down = fusion[1][0](xs[0], [8, 8])
    torch.testing.assert_close(outs[0], torch.relu(xs[0] + up))
    torch.testing.assert_close(outs[1], torch.relu(down + xs[1]))


def test_fusion_leaves_its_inputs_untouched():
    fusion = MultiResolutionFusion([4, 8, 16]).eval()
    xs = _inputs([4, 8, 16], 20, 20)
    copies = [x.clone() for x in xs]
    with torch.no_grad():
        fusion(xs)
    assert all(torch.equal(a, b) for a, b in zip(xs, copies))


def test_fusion_single_output_and_bad_num_outputs():
    fusion = MultiResolutionFusion([4, 8, 16], num_outputs=1)
    assert len(fusion) == 1
    with pytest.raises(ValueError, match='num_outputs'):
        MultiResolutionFusion([4, 8], num_outputs=3)


def test_hrmodule_and_fusion_build_from_registry_and_backprop():
    module = MODELS.build(dict(type='HRModule', in_channels=[8, 16], num_channels=[8, 16], num_blocks=[1, 1]))
    fusion = MODELS.build(dict(type='MultiResolutionFusion', in_channels=[8, 16]))
    assert isinstance(module, HRModule) and isinstance(fusion, MultiResolutionFusion)
    xs = [x.requires_grad_() for x in _inputs([8, 16], 16, 16)]
    sum(o.sum() for o in module(xs)).backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in xs)


def test_hrmodule_keys_follow_the_official_layout():
    module = HRModule([8, 16], [8, 16], [2, 2])
    keys = set(module.state_dict())
    assert {'branches.1.1.conv2.weight', 'fuse_layers.0.1.0.weight', 'fuse_layers.0.1.1.running_var',
            'fuse_layers.1.0.0.0.weight', 'fuse_layers.1.0.0.1.weight'} <= keys


def test_hrmodule_rejects_mismatched_branch_lists():
    with pytest.raises(ValueError, match='one entry per branch'):
        HRModule([8, 16], [8], [1, 1])
