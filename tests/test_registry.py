import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mmengine.registry import MODELS as ROOT_MODELS

import hrnet_mm
from hrnet_mm.models.dropin import build_hrnet
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


def test_the_light_import_offers_every_model_class():
    """``hrnet_mm.MODEL_CLASSES`` names, without torch, what ``hrnet_mm.models`` exports."""
    import hrnet_mm.models
    assert sorted(hrnet_mm.MODEL_CLASSES) == sorted(hrnet_mm.models.__all__)
    assert all(getattr(hrnet_mm, name) is getattr(hrnet_mm.models, name) for name in hrnet_mm.MODEL_CLASSES)


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


def test_every_mmengine_root_registry_has_a_child_of_ours_named_alike():
    from mmengine.registry import Registry, root

    import hrnet_mm.registry as ours
    roots = {name: value for name, value in vars(root).items() if isinstance(value, Registry)}
    assert len(roots) >= 20 and 'HOOKS' in roots and 'DATASETS' in roots
    for name, registry in roots.items():
        child = getattr(ours, name)
        assert child.parent is registry and child.scope == 'hrnet_mm' and child.name == registry.name, name
        assert registry._children['hrnet_mm'] is child


@pytest.mark.parametrize('library, registry_name, key', [
    ('mmseg', 'MODELS', 'EncoderDecoder'),
    ('mmseg', 'MODELS', 'CrossEntropyLoss'),
    ('mmdet', 'MODELS', 'CrossEntropyLoss'),  # a different class of the same name: the building library's
    ('mmdet', 'DATASETS', 'CocoDataset'),
    ('mmdet', 'TRANSFORMS', 'LoadAnnotations'),  # mmdet's own, not mmcv's of the root registry
    ('mmpose', 'TRANSFORMS', 'LoadAnnotations'),
    ('mmpretrain', 'MODELS', 'ImageClassifier'),
    ('mmseg', 'HOOKS', 'SegVisualizationHook'),
    ('mmdet', 'METRICS', 'CocoMetric'),
])
def test_a_stamped_scope_falls_through_to_the_building_library(library, registry_name, key):
    """What mmengine does for a dict carrying `_scope_='hrnet_mm'` inside a run of `library`."""
    import importlib

    from mmengine.registry import DefaultScope

    import hrnet_mm.registry as ours
    stock = getattr(importlib.import_module(f'{library}.registry'), registry_name)
    expected = stock.get(key)
    assert expected is not None and key not in getattr(ours, registry_name).module_dict
    with DefaultScope.overwrite_default_scope(library):
        root = getattr(importlib.import_module('mmengine.registry'), registry_name)
        with root.switch_scope_and_registry('hrnet_mm') as registry:
            assert registry is getattr(ours, registry_name)
            assert registry.get(key) is expected
            assert registry.get('hrnet_mm.HRNet' if registry_name == 'MODELS' else key) is not None


def test_our_own_names_win_and_without_a_library_the_root_or_the_one_owner_answers():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.hooks import CheckpointHook
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS
    from mmseg.registry import MODELS as MMSEG_MODELS

    from hrnet_mm.registry import HOOKS, TRANSFORMS
    with DefaultScope.overwrite_default_scope('mmseg'):
        with DefaultScope.overwrite_default_scope('hrnet_mm'):
            assert MODELS.get('HRNet') is build_hrnet  # ours (it builds hrnet_mm.HRNet), not mmseg's HRNet
    pack_inputs = MMPRETRAIN_TRANSFORMS.get('PackInputs')  # registered, as mmpretrain's inferencer has it
    saved = DefaultScope._instance_dict.copy()
    DefaultScope._instance_dict.clear()  # a process that set no scope at all (mmpretrain's inferencers)
    try:
        with DefaultScope.overwrite_default_scope('hrnet_mm'):
            assert HOOKS.get('CheckpointHook') is CheckpointHook  # mmengine's root
            assert TRANSFORMS.get('PackInputs') is pack_inputs  # only mmpretrain's
            assert MMSEG_MODELS.get('CrossEntropyLoss') is not MMDET_MODELS.get('CrossEntropyLoss')
            assert MODELS.get('CrossEntropyLoss') is None  # several libraries have one: no guess
    finally:
        DefaultScope._instance_dict.update(saved)


# The packaged configs that define their own model / dataset / runner dicts, which mmengine stamps
# with `_scope_='hrnet_mm'` when a user config inherits them (tests/test_packaging.py builds all of them
# from an installed wheel).
OWN_DICTS = [
    'hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py',
    'hrnet_seg/fcn_hrnetv2-w48_4xb10-114k_lip-473x473_paper.py',
    'hrnet_pose/td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py',
    'hrnet_det/faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256.py',
    'hrnet_cls/hrnet-w18s-v1-c_1xb32-1000it_synthetic-64x64.py',
    'hrnet_face/td-hm_hrnetv2-w18s-v1_1xb32-30e_synthetic-96x96.py',
]


def test_user_configs_inheriting_through_hrnet_mm_build(tmp_path):
    users = []
    for name in OWN_DICTS:
        user = tmp_path / f'user_{Path(name).name}'
        user.write_text(f"_base_ = 'hrnet_mm::{name}'\nrandomness = dict(seed=1)\n")
        users.append(str(user))
    proc = subprocess.run([sys.executable, '-m', 'hrnet_mm.testing.config_builds', *users],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(('ok ', 'FAIL '))]
    assert proc.returncode == 0 and len(lines) == len(OWN_DICTS), proc.stdout[-3000:] + proc.stderr[-3000:]
    models = [line.split()[2] for line in lines]
    assert models == ['EncoderDecoder', 'EncoderDecoder', 'TopdownPoseEstimator', 'FasterRCNN', 'ImageClassifier',
                      'TopdownPoseEstimator']
    assert 'Failed to search registry' not in proc.stdout + proc.stderr  # mmpose's codec registry included


def test_the_warning_filter_has_its_switch():
    import subprocess
    import sys
    script = ('import warnings, hrnet_mm; '
              "print(any(f[0] == 'ignore' and f[1] is not None and 'pkg_resources' in f[1].pattern "
              'for f in warnings.filters))')
    for value, hidden in (('0', 'True'), ('1', 'False')):
        done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, check=True,
                              env={**__import__('os').environ, 'HRNET_MM_KEEP_WARNINGS': value})
        assert done.stdout.strip() == hidden, (value, done.stdout, done.stderr[-500:])


def test_importing_hrnet_mm_alone_imports_no_torch_and_the_first_lookup_registers():
    import subprocess
    import sys
    script = ('import sys, hrnet_mm\n'
              'print(sorted(m for m in ("torch", "mmcv", "cv2") if m in sys.modules))\n'
              'from mmengine.registry import MODELS\n'
              'print(MODELS.get("hrnet_mm.HRNet").__name__, "torch" in sys.modules)\n'
              'print(hrnet_mm.HRNetV2Neck.__module__)\n')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, check=True).stdout.split('\n')
    assert out[:3] == ['[]', 'build_hrnet True', 'hrnet_mm.models.necks.hrnet_v2'], out


def test_a_lookup_imports_nothing_and_changes_no_other_registry():
    import sys

    from mmengine.registry import DefaultScope
    from mmpose.registry import KEYPOINT_CODECS
    assert 'hrnet_mm' in KEYPOINT_CODECS.children  # given when hrnet_mm activated, before any lookup
    import mmengine.registry as mmengine_registries
    roots = [r for r in vars(mmengine_registries).values() if isinstance(r, mmengine_registries.Registry)]
    children_before = {id(r): set(r.children) for r in roots}
    modules_before = set(sys.modules)
    with DefaultScope.overwrite_default_scope('mmseg'):
        with DefaultScope.overwrite_default_scope('hrnet_mm'):
            assert MODELS.get('NoSuchModel') is None
            assert MODELS.get('EncoderDecoder') is not None
    assert set(sys.modules) == modules_before
    assert {id(r): set(r.children) for r in roots} == children_before
