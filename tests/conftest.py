import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'tools'))  # the data generators live in tools/


@pytest.fixture(scope='session')
def seg_data(tmp_path_factory) -> Path:
    """One small synthetic segmentation dataset (mmseg ADE-style layout) shared by the suite."""
    from make_seg_data import generate
    return generate(str(tmp_path_factory.mktemp('seg_data')), num_train=24, num_val=8, size=64, seed=0)
