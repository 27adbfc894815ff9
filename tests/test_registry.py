import subprocess
import sys
import textwrap

import pytest
from mmengine.registry import MODELS as ROOT_MODELS

import hrnet_mm
from hrnet_mm.registry import MODELS


def test_registry_is_a_scoped_child_of_mmengine_root():
    assert MODELS.scope == 'hrnet_mm' and MODELS.parent is ROOT_MODELS
    assert {'HRNet', 'HRModule', 'MultiResolutionFusion', 'HRNetV2Neck', 'HRNetV2pNeck'} <= set(MODELS.module_dict)


@pytest.mark.parametrize('library', ['mmseg', 'mmpose', 'mmdet', 'mmengine'])
def test_builds_through_every_library_registry(library):
    registry = __import__(f'{library}.registry', fromlist=['MODELS']).MODELS
    model = registry.build(dict(type='hrnet_mm.HRNet', arch='w18-small-v1'))
    assert isinstance(model, hrnet_mm.HRNet)
    neck = registry.build(dict(type='hrnet_mm.HRNetV2pNeck', in_channels=[16, 32, 64, 128], out_channels=8))
    assert isinstance(neck, hrnet_mm.HRNetV2pNeck)


def test_stock_hrnet_names_stay_the_libraries_own():
    from mmseg.registry import MODELS as SEG
    assert SEG.get('HRNet') is not hrnet_mm.HRNet
    assert 'HRNet' in MODELS.module_dict  # ours lives only under the hrnet_mm scope


def test_custom_imports_alone_makes_the_type_buildable(tmp_path):
    config = tmp_path / 'cfg.py'
    config.write_text(textwrap.dedent("""
        default_scope = 'mmseg'
        custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
        model = dict(type='hrnet_mm.HRNet', arch='w18-small-v1')
    """))
    code = textwrap.dedent(f"""
        import sys
        from mmengine.config import Config
        assert 'hrnet_mm' not in sys.modules
        cfg = Config.fromfile({str(config)!r})
        from mmseg.registry import MODELS
        model = MODELS.build(cfg.model)
        print(type(model).__module__, type(model).__name__)
    """)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ['hrnet_mm.models.backbones.hrnet', 'HRNet']
