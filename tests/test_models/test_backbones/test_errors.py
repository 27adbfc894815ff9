"""Bad arguments fail with one error naming the argument and the value (no tracebacks from deep inside)."""
import pytest
import torch

from hrnet_mm.errors import ConfigError
from hrnet_mm.models import HRNet, HRNetClsNeck, HRNetV2Neck, HRNetV2pNeck, MultiResolutionFusion
from hrnet_mm.models.backbones import ARCH_ZOO


def _stages(**stage2):
    arch = {k: dict(v) for k, v in ARCH_ZOO['w18-small-v1'].items()}
    arch['stage2'].update(stage2)
    return arch


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch=_stages(num_channels=16)), "arch['stage2']['num_channels'] must be a list with one int per branch "
                                          '(2), got 16'),
    (dict(arch=_stages(num_channels=(True, 32))), "arch['stage2']['num_channels'] must hold positive ints, "
                                                  'got (True, 32)'),
    (dict(upsample_cfg='bilinear'), "upsample_cfg must be a dict such as dict(mode='bilinear', align_corners=False), "
                                    "got 'bilinear'"),
    (dict(out_indices=2), 'out_indices must be a list or tuple of branch indices from (0, 1, 2, 3), got 2'),
    (dict(init_cfg=dict(type='Pretrained')), "init_cfg=dict(type='Pretrained') needs checkpoint=<path or URL>"),
    (dict(in_channels=0), 'in_channels must be a positive int (image channels), got 0'),
    (dict(norm_cfg='BN'), "norm_cfg must be a dict with a 'type'"),
    (dict(norm_cfg=dict(type='NoSuchNorm')), "norm_cfg type 'NoSuchNorm' is no registered norm layer"),
    (dict(norm_cfg=dict(type='GN')), "norm_cfg {'type': 'GN'} needs num_groups"),
    (dict(upsample_cfg=dict(mode='nearest', align_corners=True)),
     "upsample_cfg['align_corners'] applies to ('bilinear', 'bicubic') only"),
    (dict(arch=dict(ARCH_ZOO['w18-small-v1'], upsample=dict(mode='bilinear'))),
     "arch dict has keys the network does not read: ['upsample']"),
])
def test_bad_arguments_name_the_argument_and_the_value(kwargs, message):
    with pytest.raises(ConfigError) as err:
        HRNet(**{'arch': 'w18-small-v1', **kwargs})
    assert message in str(err.value)


@pytest.mark.parametrize('build', [
    lambda norm_cfg: HRNetV2Neck([4, 8], out_channels=4, norm_cfg=norm_cfg),
    lambda norm_cfg: HRNetV2pNeck([4, 8], 4, norm_cfg=norm_cfg),
    lambda norm_cfg: HRNetClsNeck([4, 8], incre_channels=(2, 4), norm_cfg=norm_cfg),
    lambda norm_cfg: MultiResolutionFusion([4, 8], norm_cfg=norm_cfg),
], ids=['v2', 'v2p', 'cls', 'fusion'])
def test_every_module_names_an_unknown_norm_type(build):
    with pytest.raises(ConfigError, match="norm_cfg type 'NoSuchNorm' is no registered norm layer"):
        build(dict(type='NoSuchNorm'))


def test_a_3d_input_names_the_expected_shape():
    model = HRNet(arch='w18-small-v1').eval()
    with pytest.raises(ValueError, match=r'expects input of shape \(N, 3, H, W\), got \[3, 64, 64\]'):
        model(torch.rand(3, 64, 64))


def test_a_checkpoint_for_other_image_channels_says_so(tmp_path):
    path = tmp_path / 'rgb.pth'
    torch.save({'state_dict': HRNet(arch='w18-small-v1').state_dict()}, path)
    model = HRNet(arch='w18-small-v1', in_channels=1, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ConfigError, match='made for 3-channel images, the model takes 1 \\(in_channels\\)'):
        model.init_weights()
