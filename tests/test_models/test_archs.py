"""Our presets are the paper's models as the peers write them: timm's table of every width
(``hrnet_mm.testing.twins.stock_extra``, what the equivalence tests build the stock HRNets from), itself
checked against the libraries' own configs."""
import pytest

from hrnet_mm.config_lookup import load_config
from hrnet_mm.models.backbones import ARCH_ZOO
from hrnet_mm.testing.twins import stock_extra

# The stock configs of each library that name an HRNet, and the preset each one is.
LIBRARY_CONFIGS = {
    'mmseg::hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py': 'w18-small-v2',
    'mmseg::hrnet/fcn_hr18_4xb2-40k_cityscapes-512x1024.py': 'w18',
    'mmseg::hrnet/fcn_hr48_4xb2-40k_cityscapes-512x1024.py': 'w48',
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py': 'w32',
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w48_8xb32-210e_coco-256x192.py': 'w48',
    'mmdet::hrnet/faster-rcnn_hrnetv2p-w40-1x_coco.py': 'w40',
}
STAGE_KEYS = ('num_modules', 'num_branches', 'block', 'num_blocks', 'num_channels')


@pytest.mark.parametrize('config', sorted(LIBRARY_CONFIGS))
def test_timms_table_is_what_the_libraries_configs_build(config):
    extra = load_config(config).model.backbone.extra
    written = {stage: {k: extra[stage][k] for k in STAGE_KEYS} for stage in ('stage1', 'stage2', 'stage3', 'stage4')}
    assert written == stock_extra(LIBRARY_CONFIGS[config])


@pytest.mark.parametrize('arch', sorted(ARCH_ZOO))
def test_every_preset_is_the_peers_model(arch):
    ours = {stage: {k: ARCH_ZOO[arch][stage][k] for k in STAGE_KEYS} for stage in ARCH_ZOO[arch]}
    assert ours == stock_extra(arch)
