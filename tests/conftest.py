from pathlib import Path

import pytest
import torch


@pytest.fixture(scope='session')
def seg_data(tmp_path_factory) -> Path:
    """One small synthetic segmentation dataset (mmseg ADE-style layout) shared by the suite."""
    from hrnet_mm.synthetic.seg_data import generate
    return generate(str(tmp_path_factory.mktemp('seg_data')), train=24, val=8, size=64, seed=0)


@pytest.fixture(scope='session')
def pose_data(tmp_path_factory) -> Path:
    """A small synthetic COCO-keypoints dataset shared by the pose tests."""
    from hrnet_mm.synthetic.pose_data import generate
    return generate(str(tmp_path_factory.mktemp('pose_data')), train=192, val=16, seed=0)


@pytest.fixture(scope='session')
def det_data(tmp_path_factory) -> Path:
    """A small synthetic COCO-instances dataset (boxes and polygons) shared by the detection tests."""
    from hrnet_mm.synthetic.det_data import generate
    return generate(str(tmp_path_factory.mktemp('det_data')), train=24, val=8, seed=0)


_SCOPES_BEFORE_ANY_TEST: dict = {}


def pytest_sessionstart(session):
    from mmengine.registry import DefaultScope
    _SCOPES_BEFORE_ANY_TEST.update(DefaultScope._instance_dict)  # no public API lists or removes them


@pytest.fixture(autouse=True)
def _registry_scope_of_the_test_only():
    """Every test ends with mmengine's default registry scopes as they were before the first test.

    mmengine keeps every ``DefaultScope`` ever created, and the newest is current: an inferencer or a
    runner built in one test (``MMSegInferencer`` makes one for ``mmseg``) would otherwise decide, for
    every later test in the process, which library's registry a bare type name is looked up in.
    Restoring what the test found would not do: a module- or session-scoped fixture (an inferencer
    shared by a module) is built before this fixture starts, so its scope would look like the test's
    starting state and outlive the module.
    """
    from mmengine.registry import DefaultScope
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(_SCOPES_BEFORE_ANY_TEST)


def pytest_configure(config):
    config.addinivalue_line('markers', 'cuda: needs a CUDA device (skipped, with the reason shown, without one)')
    config.addinivalue_line('markers', 'release: whole-product runs (a wheel in a fresh venv, deploy accuracy); '
                                       '`make test-release`, which CI runs after `make test`')


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA device; this host has none (run the suite on a GPU host)')
    for item in items:
        if 'cuda' in item.keywords:
            item.add_marker(skip)
