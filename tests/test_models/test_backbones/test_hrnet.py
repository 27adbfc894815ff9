import math

import pytest
import torch
from torch import nn

from hrnet_mm.models import HRNet
from hrnet_mm.models.backbones import ARCH_ZOO, parse_arch
from hrnet_mm.models.dropin import build_hrnet
from hrnet_mm.testing.twins import randomize_norms

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
    legacy = build_hrnet(extra=extra)
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


# What "frozen up to stage k" covers, by parameter name: the stem, then each stage with the transition after it.
STAGE_ROOTS = {0: ('conv1', 'bn1', 'conv2', 'bn2'), 1: ('layer1', 'transition1'), 2: ('stage2', 'transition2'),
               3: ('stage3', 'transition3'), 4: ('stage4',)}
# w18-small-v1: the stem is 2 convs + 2 BNs (weight, bias) = 6 tensors; stage 1 is one bottleneck with a
# projection shortcut (4 convs + 4 BNs = 12) and transition1 two conv + BN (128 -> 16, 128 -> 32: 6).
FROZEN_COUNTS = {0: 6, 1: 6 + 12 + 6}


@pytest.mark.parametrize('frozen_stages', [0, 1, 2, 4])
def test_frozen_stages_really_freeze(frozen_stages):
    model = HRNet(arch='w18-small-v1', frozen_stages=frozen_stages)
    model.train()
    roots = {root for k in range(frozen_stages + 1) for root in STAGE_ROOTS[k]}
    params = dict(model.named_parameters())
    frozen = {name for name in params if name.split('.')[0] in roots}
    assert {name for name, p in params.items() if not p.requires_grad} == frozen
    if frozen_stages in FROZEN_COUNTS:
        assert len(frozen) == FROZEN_COUNTS[frozen_stages]
    if frozen_stages == 4:
        assert frozen == set(params)
    assert all(not m.training for name, m in model.named_modules() if name.split('.')[0] in roots)
    stats = {k: v.clone() for k, v in model.state_dict().items() if k.endswith('running_mean')}
    out = sum(o.sum() for o in model(torch.rand(2, 3, 64, 64)))
    if frozen_stages < 4:
        out.backward()
    assert all(params[name].grad is None for name in frozen)
    changed = {k for k, v in model.state_dict().items() if k.endswith('running_mean') and not torch.equal(v, stats[k])}
    assert all(k.split('.')[0] not in roots for k in changed)  # frozen statistics stay
    if frozen_stages < 4:
        assert {k.split('.')[0] for k in changed} == {'stage4'} | {root for k in range(frozen_stages + 1, 4)
                                                                     for root in STAGE_ROOTS[k]}


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


def test_a_pretrained_checkpoint_survives_zero_init_residual_in_an_init_cfg_list(tmp_path):
    source = randomize_norms(HRNet(arch='w18-small-v1'), seed=3, affine=True)  # every last-norm weight >= 0.5
    path = tmp_path / 'w.pth'
    torch.save(source.state_dict(), path)
    pretrained = dict(type='Pretrained', checkpoint=str(path))
    for init_cfg in (pretrained, [dict(type='Kaiming', layer='Conv2d'), pretrained]):
        model = HRNet(arch='w18-small-v1', zero_init_residual=True, init_cfg=init_cfg)
        model.init_weights()
        loaded = model.state_dict()
        for key, value in source.state_dict().items():
            assert torch.equal(loaded[key], value), (init_cfg, key)


def test_non_pretrained_init_cfg_entries_go_through_mmengine_and_zero_init_follows():
    model = HRNet(arch='w18-small-v1', zero_init_residual=True,
                  init_cfg=[dict(type='Constant', layer='Conv2d', val=0.5), dict(type='Constant', layer='_BatchNorm',
                                                                                val=2.0, bias=0.0)])
    model.init_weights()
    assert torch.all(model.conv1.weight == 0.5) and torch.all(model.bn1.weight == 2.0)
    assert torch.all(model.layer1[0].bn3.weight == 0) and torch.all(model.stage2[0].branches[0][0].bn2.weight == 0)


@pytest.mark.parametrize('mode', ['nearest-exact', 'area', 'bicubic'])
def test_every_fusion_mode_runs_on_odd_sizes(mode):
    model = HRNet(arch='w18-small-v1', upsample_cfg=dict(mode=mode)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 97, 45))
    assert [tuple(o.shape) for o in outs] == _expected_shapes('w18-small-v1', 1, 97, 45)
    paths = [m for m in model.modules() if type(m).__name__ == 'UpsamplePath']
    assert paths and all(p.mode == mode for p in paths)
    assert all(p.align_corners is (False if mode == 'bicubic' else None) for p in paths)


def test_group_norm_and_deprecated_pretrained(tmp_path):
    model = HRNet(arch='w18-small-v1', norm_cfg=dict(type='GN', num_groups=8)).eval()
    assert any(isinstance(m, nn.GroupNorm) for m in model.modules())
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64))[0].shape[1] == 16
    path = tmp_path / 'w.pth'
    torch.save(HRNet(arch='w18-small-v1').state_dict(), path)
    with pytest.warns(DeprecationWarning, match='pretrained'):
        legacy = build_hrnet(arch='w18-small-v1', pretrained=str(path))
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


def test_torch_export_matches_eager():
    """torch.export (what PT2E quantization and the dynamo exporter trace) captures the whole forward."""
    model = HRNet(arch='w18-small-v1').eval()
    x = torch.rand(1, 3, 75, 61)
    exported = torch.export.export(model, (x,)).module()
    with torch.no_grad():
        expected, got = model(x), exported(x)
    assert isinstance(expected, tuple) and len(got) == len(expected) == 4
    for ours, theirs in zip(expected, got):
        torch.testing.assert_close(theirs, ours)


@pytest.mark.parametrize('layout', [torch.contiguous_format, torch.channels_last], ids=['nchw', 'nhwc'])
def test_the_network_runs_in_its_callers_layout_and_converts_nothing(layout):
    """Weights stored NHWC make every convolution NHWC: the outputs come out NHWC, not copied back."""
    torch.manual_seed(0)
    reference = HRNet(arch='w18-small-v1').eval()
    model = HRNet(arch='w18-small-v1').eval()
    model.load_state_dict(reference.state_dict())
    model.to(memory_format=layout)
    x = torch.rand(1, 3, 64, 96)  # NCHW, as a data preprocessor hands it over
    with torch.no_grad():
        outs, expected = model(x), reference(x)
    for out, ref in zip(outs, expected):
        assert out.is_contiguous(memory_format=layout)
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_no_none_inside_module_lists():
    model = HRNet(arch='w18-small-v2')
    for module in model.modules():
        if isinstance(module, nn.ModuleList):
            assert all(m is not None for m in module)
