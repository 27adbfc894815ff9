"""Our HRNet equals the HRNets inside mmseg, mmpose and mmdet, weight for weight (oracle tests)."""
import pytest
import torch

from hrnet_mm.models import HRNet
from hrnet_mm.models.dropin import build_hrnet
from hrnet_mm.testing.twins import randomize_norms, stock_extra, stock_hrnet

# (library, our upsample_cfg): mmseg fuses low->high bilinearly, mmpose and mmdet with nearest.
LIBRARIES = {'mmseg': dict(mode='bilinear', align_corners=False), 'mmpose': None, 'mmdet': None}


@pytest.mark.parametrize('channels_last', [True, False], ids=['nhwc', 'nchw'])
@pytest.mark.parametrize('arch', ['w18-small-v1', 'w18-small-v2', 'w18', 'w32', 'w48'])
@pytest.mark.parametrize('library', sorted(LIBRARIES))
def test_outputs_equal_the_stock_hrnet_with_its_weights(library, arch, channels_last):
    torch.manual_seed(0)
    multiscale_output = not (library == 'mmpose' and arch == 'w32')  # the pose layout too
    stock = stock_hrnet(library, arch, multiscale_output)
    stock.init_weights()
    randomize_norms(stock, seed=1, affine=True)
    stock.eval()
    ours = build_hrnet(arch=arch, upsample_cfg=LIBRARIES[library], multiscale_output=multiscale_output,
                       channels_last=channels_last)  # as configs build it
    ours.load_state_dict(stock.state_dict(), strict=True)
    ours.eval()
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        expected, got = stock(x), ours(x)
    assert len(expected) == len(got) == (4 if multiscale_output else 1)
    for e, g in zip(expected, got):
        assert e.shape == g.shape
        scale = e.abs().max()
        assert scale > 0
        assert g.is_contiguous()  # NCHW out, whatever runs inside
        # NCHW runs the stock kernels: equal up to 1e-5. NHWC convolutions sum in another order: equal up
        # to float rounding of these (random-init, unnormalized, up to 1e10) activations.
        torch.testing.assert_close(g, e, rtol=0, atol=1e-5 * scale if channels_last else 1e-5)


def test_stock_mmpose_config_switches_by_type_alone():
    """mmpose's HRNet defaults to the single-output pose layout; under its scope so do we."""
    from mmengine.registry import DefaultScope
    from mmpose.registry import MODELS
    extra = stock_extra('w32')
    with DefaultScope.overwrite_default_scope('mmpose'):
        stock = MODELS.build(dict(type='HRNet', extra=extra))
        ours = MODELS.build(dict(type='hrnet_mm.HRNet', extra=extra))
    assert not ours.multiscale_output and ours.out_indices == (0,)
    ours.load_state_dict(stock.state_dict(), strict=True)


@pytest.mark.parametrize('timm_name, arch', [('hrnet_w18_small', 'w18-small-v1'),
                                             ('hrnet_w18_small_v2', 'w18-small-v2'), ('hrnet_w18', 'w18')])
def test_timm_imagenet_checkpoint_loads_through_init_cfg_and_matches(tmp_path, timm_name, arch):
    import timm  # a dev requirement, installed by `make test`
    torch.manual_seed(0)
    classifier = timm.create_model(timm_name, pretrained=False).eval()
    randomize_norms(classifier, seed=2, affine=True)
    path = tmp_path / f'{timm_name}.pth'
    torch.save(classifier.state_dict(), path)  # incre_modules, final_layer, classifier ride along
    ours = HRNet(arch=arch, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    ours.init_weights()
    ours.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        stem = classifier.act2(classifier.bn2(classifier.conv2(classifier.act1(classifier.bn1(classifier.conv1(x))))))
        expected = classifier.stages(stem)
        got = ours(x)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-5 * e.abs().max())  # float rounding (NHWC vs NCHW)
