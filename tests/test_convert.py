"""Checkpoint conversion, against timm's and mmpretrain's own HRNet-C models and a model of the authors' face
layout as oracles."""
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

from hrnet_mm.apis import build_model
from hrnet_mm.cli import main
from hrnet_mm.convert import (
    convert_mmpretrain,
    convert_msra_face,
    convert_state_dict,
    convert_timm,
    detect_layout,
)
from hrnet_mm.errors import ConfigError
from hrnet_mm.models import HRNet

REPO = Path(__file__).resolve().parents[1]
W18 = REPO / 'configs' / 'hrnet_cls' / 'hrnet-w18-c_4xb32_in1k.py'
FACE = {k: REPO / 'configs' / 'hrnet_face' / f'td-hm_hrnetv2-w18_1xb16-60e_{d}-256x256.py'
        for k, d in ((98, 'wflw'), (68, '300w'))}


def _randomize(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random norm affines and conv biases, running statistics from data and then scattered; eval mode.

    Defaults (ones, zeros, unit statistics) would hide a converter that drops or swaps any of them.
    """
    gen = torch.Generator().manual_seed(seed)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
            m.bias.data.uniform_(-0.5, 0.5, generator=gen)
    for m in norms:
        m.weight.data.uniform_(0.5, 1.5, generator=gen)
        m.bias.data.uniform_(-0.2, 0.2, generator=gen)
        m.momentum = None  # cumulative average over the calibration batch
    net.train()
    with torch.no_grad():
        net(torch.randn(4, 3, 128, 128, generator=gen))
    for m in norms:
        m.running_mean.mul_(torch.empty_like(m.running_mean).uniform_(0.8, 1.2, generator=gen))
        m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.2, generator=gen))
        m.momentum = 0.1
    return net.eval()


@pytest.fixture(scope='module')
def timm_w18():
    torch.manual_seed(0)
    return _randomize(timm.create_model('hrnet_w18', pretrained=False), seed=1)


@pytest.fixture(scope='module')
def ours_w18():
    return build_model(str(W18))[0]


@pytest.fixture(scope='module')
def image():
    return torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))


def _assert_same_logits(ours, ref_logits, image):
    with torch.no_grad():
        logits = ours(image, mode='tensor')
    assert logits.shape == ref_logits.shape == (2, 1000)
    scale = ref_logits.abs().max()
    assert scale > 0.1 and ref_logits.std() > 0.01  # a comparison of real numbers, not of zeros
    torch.testing.assert_close(logits, ref_logits, rtol=1e-4, atol=1e-4 * float(scale))


def test_timm_weights_give_timm_logits(timm_w18, ours_w18, image):
    converted = convert_timm(timm_w18.state_dict())
    assert set(converted) == set(ours_w18.state_dict())
    ours_w18.load_state_dict(converted, strict=True)
    with torch.no_grad():
        expected = timm_w18(image)
    _assert_same_logits(ours_w18, expected, image)


def _stock_mmpretrain(tmp_path: Path):
    from mmpretrain.registry import MODELS
    cfg_file = tmp_path / 'stock_w18.py'
    cfg_file.write_text("_base_ = 'mmpretrain::hrnet/hrnet-w18_4xb32_in1k.py'\n")
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(Config.fromfile(str(cfg_file)).model)
    torch.manual_seed(3)
    for m in model.modules():  # the default init leaves the linear head at zero bias, the rest at torch defaults
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, std=0.05)
            torch.nn.init.uniform_(m.bias, -0.5, 0.5)
    return _randomize(model, seed=4)


def test_mmpretrain_weights_give_mmpretrain_logits(ours_w18, image, tmp_path):
    stock = _stock_mmpretrain(tmp_path)
    state = stock.state_dict()
    assert detect_layout(state) == 'mmpretrain'
    converted = convert_mmpretrain(state)
    # HRFuseScales' convs have no bias; the converted ones are zero (the same function).
    assert torch.count_nonzero(converted['neck.final_layer.0.bias']) == 0
    ours_w18.load_state_dict(converted, strict=True)
    with torch.no_grad():
        expected = stock(image, mode='tensor')
    _assert_same_logits(ours_w18, expected, image)


def _run(argv):
    return main(argv)


def test_cli_converts_an_official_msra_file_that_loads_strictly(timm_w18, ours_w18, image, tmp_path, capsys):
    # Official MSRA files: the timm layout, saved by older PyTorch (no num_batches_tracked), here
    # also wrapped as a DataParallel state dict to check the unwrapping.
    state = {f'module.{k}': v for k, v in timm_w18.state_dict().items() if not k.endswith('num_batches_tracked')}
    src, dst = tmp_path / 'hrnetv2_w18_imagenet_pretrained.pth', tmp_path / 'out' / 'w18.pth'
    torch.save({'state_dict': state}, src)
    assert _run(['convert', str(src), str(dst), '--from', 'msra', '--config', str(W18)]) == 0
    assert 'loads strictly' in capsys.readouterr().out
    saved = torch.load(dst, weights_only=True)
    assert saved['meta'] == {'converted_from': 'msra', 'source': src.name}
    model = build_model(str(W18))[0]
    load_checkpoint(model, str(dst), map_location='cpu', strict=True, logger='silent')
    with torch.no_grad():
        expected = timm_w18(image)
    _assert_same_logits(model, expected, image)
    # Its backbone part initializes a task backbone (detection, segmentation, pose configs).
    backbone = HRNet(arch='w18', init_cfg=dict(type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    backbone.init_weights()
    assert torch.equal(backbone.stage4[2].fuse_layers[0][3][1].running_var,
                       timm_w18.stage4[2].fuse_layers[0][3][1].running_var)


def test_cli_reads_timm_safetensors(timm_w18, tmp_path):
    from safetensors.torch import save_file
    src = tmp_path / 'model.safetensors'
    save_file({k: v.contiguous() for k, v in timm_w18.state_dict().items()}, str(src))
    assert _run(['convert', str(src), str(tmp_path / 'w18.pth'), '--from', 'timm']) == 0
    saved = torch.load(tmp_path / 'w18.pth', weights_only=True)['state_dict']
    expected = convert_timm(timm_w18.state_dict())
    assert set(saved) == set(expected)  # safetensors stores keys sorted
    assert all(torch.equal(saved[k], expected[k]) for k in expected)


def test_wrong_layout_and_wrong_width_fail_clearly(timm_w18, tmp_path, capsys):
    timm_state = timm_w18.state_dict()
    mmpretrain_like = {f'neck.0.increase_layers.{k[len("incre_modules."):]}': v for k, v in timm_state.items()
                       if k.startswith('incre_modules.')}
    with pytest.raises(ConfigError, match='use --from mmpretrain'):
        convert_state_dict(mmpretrain_like, 'timm')
    with pytest.raises(ConfigError, match='use --from timm or msra'):
        convert_state_dict(timm_state, 'mmpretrain')
    with pytest.raises(ConfigError, match='already in the hrnet_mm layout'):
        convert_state_dict(convert_timm(timm_state), 'timm')
    with pytest.raises(ConfigError, match='no HRNet-C classification head'):
        convert_state_dict({k: v for k, v in timm_state.items() if k.startswith('stage')}, 'timm')
    with pytest.raises(ConfigError, match=r'no part of the timm / MSRA .*aux_head'):
        convert_timm({**timm_state, 'aux_head.weight': torch.zeros(1)})
    small = tmp_path / 'small.pth'
    torch.save(timm.create_model('hrnet_w18_small', pretrained=False).state_dict(), small)
    capsys.readouterr()
    assert _run(['convert', str(small), str(tmp_path / 'x.pth'), '--from', 'timm', '--config', str(W18)]) == 2
    err = capsys.readouterr().err.strip()
    assert 'shape mismatches' in err and len(err.splitlines()) == 1  # one line, exit 2
    assert not (tmp_path / 'x.pth').exists()
    with pytest.raises(SystemExit) as exit_:
        _run(['convert', str(small), 'x.pth', '--from', 'caffe'])
    assert exit_.value.code == 2


def test_bias_free_heads_get_zero_biases_and_complete_norms():
    state = {'final_layer.0.weight': torch.ones(8, 4, 1, 1), 'final_layer.1.running_var': torch.ones(8),
             'final_layer.1.running_mean': torch.zeros(8)}
    out = convert_timm(state)
    assert torch.equal(out['neck.final_layer.0.bias'], torch.zeros(8))
    assert out['neck.final_layer.1.num_batches_tracked'].dtype == torch.long
    assert out['neck.final_layer.0.weight'] is state['final_layer.0.weight']  # not copied


# --- The authors' face models (HRNet-Facial-Landmark-Detection) ---------------------------------------------


def _authors_face_net(num_joints: int) -> torch.nn.Module:
    """A model with the authors' face layout and computation, written here independently of hrnet_mm.

    Their ``HighResolutionNet`` is the MSRA HRNet (here mmpose's, which has its keys: ``conv1``, ``bn1``,
    ``layer1``, ``transition1``, ``stage2``, ... at the top level; stage 4 keeps all four outputs and
    fuses bilinearly), whose four outputs are resized bilinearly (``align_corners=False``) to the first
    one's size and concatenated, then ``head = Sequential(Conv2d(270, 270, 1), BatchNorm2d(270,
    momentum=0.01), ReLU, Conv2d(270, K, 1))``; both convs have biases.
    """
    from mmpose.models.backbones import HRNet as StockHRNet

    widths = (18, 36, 72, 144)
    extra = dict(
        stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(4,), num_channels=(64,)),
        stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(4,) * 2, num_channels=widths[:2]),
        stage3=dict(num_modules=4, num_branches=3, block='BASIC', num_blocks=(4,) * 3, num_channels=widths[:3]),
        stage4=dict(num_modules=3, num_branches=4, block='BASIC', num_blocks=(4,) * 4, num_channels=widths,
                    multiscale_output=True),
        upsample=dict(mode='bilinear', align_corners=False))

    class AuthorsFaceNet(StockHRNet):
        def __init__(self):
            super().__init__(extra=extra)
            channels = sum(widths)
            self.head = torch.nn.Sequential(
                torch.nn.Conv2d(channels, channels, 1), torch.nn.BatchNorm2d(channels, momentum=0.01),
                torch.nn.ReLU(inplace=True), torch.nn.Conv2d(channels, num_joints, 1))

        def forward(self, x):
            xs = super().forward(x)
            size = xs[0].shape[-2:]
            ups = [F.interpolate(t, size=size, mode='bilinear', align_corners=False) for t in xs[1:]]
            return self.head(torch.cat([xs[0], *ups], 1))

    torch.manual_seed(5)
    net = AuthorsFaceNet()
    for m in net.head.modules():  # torch's default init would leave the head's biases small and alike
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=0.05)
    _randomize(net, seed=6)  # leaves it in eval mode (mmpose's train() returns None, hence no chaining)
    return net


@pytest.fixture(scope='module')
def authors_wflw():
    return _authors_face_net(98)


def test_authors_face_layout_is_detected_and_maps_key_for_key(authors_wflw):
    state = authors_wflw.state_dict()
    assert {'head.0.bias', 'head.1.running_var', 'head.3.weight'} <= set(state)
    assert detect_layout(state) == 'msra-face'
    converted = convert_msra_face(state)
    ours = build_model(str(FACE[98]))[0]
    assert {k: v.shape for k, v in converted.items()} == {k: v.shape for k, v in ours.state_dict().items()}
    assert converted['head.conv_layers.0.bias'] is state['head.0.bias']  # not copied
    assert converted['head.final_layer.weight'] is state['head.3.weight']
    assert sum(p.numel() for p in authors_wflw.parameters()) == sum(p.numel() for p in ours.parameters())


def test_cli_converts_the_authors_face_model_with_equal_heatmaps(authors_wflw, tmp_path, capsys):
    # Released files (HR18-WFLW.pth) are a plain state dict; no num_batches_tracked as from old PyTorch.
    src, dst = tmp_path / 'HR18-WFLW.pth', tmp_path / 'out' / 'hr18_wflw.safetensors'
    torch.save({k: v for k, v in authors_wflw.state_dict().items() if not k.endswith('num_batches_tracked')}, src)
    assert _run(['convert', str(src), str(dst), '--from', 'msra', '--config', str(FACE[98])]) == 0
    out = capsys.readouterr().out
    assert 'loads strictly' in out and 'neck 0' in out
    model = build_model(str(FACE[98]), checkpoint=str(dst))[0]
    image = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        expected = authors_wflw(image)
        got = model(image, None, mode='tensor')
    assert expected.shape == got.shape == (2, 98, 32, 32)
    scale = float(expected.abs().max())
    assert scale > 0.1 and expected.std() > 0.01
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * scale)


def test_training_snapshots_of_the_authors_code_convert_too(authors_wflw):
    # Their train.py saves DataParallel's state dict (module. prefix) under 'state_dict'.
    from hrnet_mm.checkpoint.backbone import unwrap_state_dict
    snapshot = {'epoch': 60, 'state_dict': {f'module.{k}': v for k, v in authors_wflw.state_dict().items()}}
    converted = convert_state_dict(unwrap_state_dict(snapshot), 'msra')
    assert set(converted) == set(build_model(str(FACE[98]))[0].state_dict())


def test_face_checkpoints_fail_clearly_in_the_wrong_place(authors_wflw, tmp_path, capsys):
    state = authors_wflw.state_dict()
    with pytest.raises(ConfigError, match=r'msra-face layout \(facial landmarks\), not timm: use --from msra'):
        convert_state_dict(state, 'timm')
    with pytest.raises(ConfigError, match=r'no part of the msra-face face landmark layout.*incre_modules'):
        convert_msra_face({**state, 'incre_modules.0.0.conv1.weight': torch.zeros(1)})
    stock_face = build_model(str(FACE[98]))[0].state_dict()  # mmpose's keys: nothing to convert
    with pytest.raises(ConfigError, match='already in the hrnet_mm layout'):
        convert_state_dict(stock_face, 'msra')
    src = tmp_path / 'HR18-WFLW.pth'
    torch.save(state, src)
    capsys.readouterr()
    for config, expected in ((W18, 'is an mmpretrain config; converted facial landmarks weights load into mmpose '
                                   'configs (hrnet_face/...)'),
                             (FACE[68], 'shape mismatches')):
        assert _run(['convert', str(src), str(tmp_path / 'x.pth'), '--from', 'msra', '--config', str(config)]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, err  # one line, exit 2
    assert not (tmp_path / 'x.pth').exists()
