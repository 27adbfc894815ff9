import math

import pytest
import torch
from torch import nn

from hrnet_mm.models import HRNet
from hrnet_mm.models.backbones import ARCH_ZOO, parse_arch

ALL_ARCHS = sorted(ARCH_ZOO)


def _expected_shapes(arch: str, n: int, h: int, w: int):
    widths = ARCH_ZOO[arch]['stage4']['num_channels']
    return [(n, c, math.ceil(h / 2**(b + 2)), math.ceil(w / 2**(b + 2))) for b, c in enumerate(widths)]


@pytest.mark.parametrize('arch', ALL_ARCHS)
def test_every_preset_shapes_channels_and_feature_info(arch):
    model = HRNet(arch=arch).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == _expected_shapes(arch, 1, 64, 96)
    assert model.out_channels == [o.shape[1] for o in outs]
    assert model.out_strides == [4, 8, 16, 32]
    assert [f['num_chs'] for f in model.feature_info] == model.out_channels
    assert [f['reduction'] for f in model.feature_info] == [4, 8, 16, 32]


@pytest.mark.parametrize('size', [(513, 513), (250, 333), (32, 32), (97, 45)])
def test_any_input_size(size):
    model = HRNet(arch='w18-small-v1').eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, *size))
    assert [tuple(o.shape) for o in outs] == _expected_shapes('w18-small-v1', 2, *size)


def test_any_input_size_with_bilinear_fusion_and_batch_one():
    model = HRNet(arch='w18-small-v1', upsample_cfg=dict(mode='bilinear', align_corners=True)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 250, 333))
    assert [tuple(o.shape) for o in outs] == _expected_shapes('w18-small-v1', 1, 250, 333)


def test_legacy_extra_equals_arch_and_reads_upsample():
    extra = dict(ARCH_ZOO['w18-small-v2'], upsample=dict(mode='bilinear', align_corners=False))
    legacy = HRNet(extra=extra)
    modern = HRNet(arch='w18-small-v2')
    assert legacy.upsample_cfg == dict(mode='bilinear', align_corners=False)
    assert [(k, v.shape) for k, v in legacy.state_dict().items()] == \
        [(k, v.shape) for k, v in modern.state_dict().items()]


def test_custom_arch_dict_with_uneven_widths():
    arch = dict(
        stage1=dict(num_modules=1, num_branches=1, block='BASIC', num_blocks=(1,), num_channels=(24,)),
        stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 2), num_channels=(12, 20)),
        stage3=dict(num_modules=2, num_branches=3, block='BASIC', num_blocks=(1, 1, 1), num_channels=(16, 24, 40)),
        stage4=dict(num_modules=1, num_branches=4, block='BOTTLENECK', num_blocks=(1, 1, 1, 1),
                    num_channels=(8, 16, 24, 32)))
    model = HRNet(arch=arch).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 70, 50))
    # Widths change between stages 2->3 and 3->4 on existing branches (the transition convs must
    # map branch b to branch b, not the lowest-resolution one).
    assert [o.shape[1] for o in outs] == [32, 64, 96, 128]
    assert isinstance(model.transition2[1], nn.Sequential)
    assert model.transition2[1][0].in_channels == 20


@pytest.mark.parametrize('kwargs, field', [
    (dict(arch='w17'), 'arch must be one of'),
    (dict(arch=dict(ARCH_ZOO['w18'], stage2=dict(ARCH_ZOO['w18']['stage2'], block='DENSE'))), "['block']"),
    (dict(arch=dict(ARCH_ZOO['w18'], stage3=dict(ARCH_ZOO['w18']['stage3'], num_blocks=(4, 4)))), "['num_blocks']"),
    (dict(arch={'stage1': ARCH_ZOO['w18']['stage1']}), "missing ['stage2', 'stage3', 'stage4']"),
    (dict(arch='w18', frozen_stages=5), 'frozen_stages'),
    (dict(arch='w18', out_indices=(4,)), 'out_indices'),
    (dict(arch='w18', multiscale_output=False, out_indices=(1,)), 'multiscale_output=False'),
    (dict(arch='w18', upsample_cfg=dict(mode='cubic')), "upsample_cfg['mode']"),
])
def test_invalid_settings_raise_value_error_naming_the_field(kwargs, field):
    with pytest.raises(ValueError) as err:
        HRNet(**kwargs)
    assert field in str(err.value)


def test_parse_arch_aliases_and_defaults():
    assert parse_arch() == parse_arch('w32')
    assert parse_arch('W18_SMALL_V2') == parse_arch('w18-small-v2')


def test_multiscale_output_false_builds_only_highest_fusion():
    model = HRNet(arch='w18-small-v2', multiscale_output=False).eval()
    last = model.stage4[-1]
    assert len(last.fuse_layers) == 1 and len(last.branches) == 4
    assert len(model.stage4[0].fuse_layers) == 4
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 48))
    assert len(outs) == 1 and tuple(outs[0].shape) == (1, 18, 16, 12)


def test_out_indices_select_branches():
    model = HRNet(arch='w18-small-v1', out_indices=(0, 2)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [16, 64] and model.out_strides == [4, 16]


def test_train_and_eval_return_self_and_norm_eval_keeps_bn_frozen():
    model = HRNet(arch='w18-small-v1', norm_eval=True)
    assert model.train() is model and model.eval() is model
    model.train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    before = bns[0].running_mean.clone()
    model(torch.rand(2, 3, 64, 64))
    assert torch.equal(bns[0].running_mean, before)


@pytest.mark.parametrize('frozen_stages', [0, 1, 2, 4])
def test_frozen_stages_really_freeze(frozen_stages):
    model = HRNet(arch='w18-small-v1', frozen_stages=frozen_stages)
    model.train()
    frozen = model._stage_modules(0)
    for k in range(1, frozen_stages + 1):
        frozen += model._stage_modules(k)
    frozen_params = {id(p) for m in frozen for p in m.parameters()}
    assert all(not p.requires_grad for p in model.parameters() if id(p) in frozen_params)
    assert all(p.requires_grad for p in model.parameters() if id(p) not in frozen_params) or frozen_stages == 4
    assert all(not m.training for f in frozen for m in f.modules())
    stats = {k: v.clone() for k, v in model.state_dict().items() if 'running_mean' in k}
    out = sum(o.sum() for o in model(torch.rand(2, 3, 64, 64)))
    if frozen_stages < 4:
        out.backward()
    for module in frozen:
        for name, param in module.named_parameters():
            assert param.grad is None, name
    changed = {k for k, v in model.state_dict().items() if 'running_mean' in k and not torch.equal(v, stats[k])}
    assert changed.isdisjoint({k for k in stats if k.startswith(('bn1', 'bn2'))})
    if frozen_stages < 4:
        assert changed  # the unfrozen rest still learns its statistics


def test_zero_init_residual_zeroes_every_last_norm():
    model = HRNet(arch='w18-small-v2', zero_init_residual=True)
    model.init_weights()
    last_norms = [m.bn3 if hasattr(m, 'bn3') else m.bn2 for m in model.modules()
                  if type(m).__name__ in ('BasicBlock', 'Bottleneck')]
    assert len(last_norms) == 2 + 2 * 2 + 3 * 3 * 2 + 2 * 4 * 2
    assert all(torch.count_nonzero(bn.weight) == 0 for bn in last_norms)
    plain = HRNet(arch='w18-small-v2')
    plain.init_weights()
    assert torch.count_nonzero(plain.layer1[0].bn3.weight) > 0


def test_group_norm_and_deprecated_pretrained(tmp_path):
    model = HRNet(arch='w18-small-v1', norm_cfg=dict(type='GN', num_groups=8)).eval()
    assert any(isinstance(m, nn.GroupNorm) for m in model.modules())
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64))[0].shape[1] == 16
    path = tmp_path / 'w.pth'
    torch.save(HRNet(arch='w18-small-v1').state_dict(), path)
    with pytest.warns(DeprecationWarning, match='pretrained'):
        legacy = HRNet(arch='w18-small-v1', pretrained=str(path))
    assert legacy.init_cfg == dict(type='Pretrained', checkpoint=str(path))


def test_with_cp_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = HRNet(arch='w18-small-v1')
    ckpt = HRNet(arch='w18-small-v1', with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 64, 64)
    grads = []
    for model in (plain, ckpt):
        model.train()
        sum(o.square().mean() for o in model(x)).backward()
        grads.append(model.layer1[0].conv1.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_torchscript_matches_eager():
    model = HRNet(arch='w18-small-v1').eval()
    scripted = torch.jit.script(model)
    x = torch.rand(1, 3, 75, 61)
    with torch.no_grad():
        for ours, theirs in zip(model(x), scripted(x)):
            torch.testing.assert_close(ours, theirs)


def test_no_none_inside_module_lists():
    model = HRNet(arch='w18-small-v2')
    for module in model.modules():
        if isinstance(module, nn.ModuleList):
            assert all(m is not None for m in module)
