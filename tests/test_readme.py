"""The numbers the README states are the numbers the code measures."""
import re
from pathlib import Path

import pytest

from hrnet_mm.models import HRNet
from hrnet_mm.models.backbones import ARCH_ZOO

README = (Path(__file__).resolve().parents[1] / 'README.md').read_text()


@pytest.mark.parametrize('arch', sorted(ARCH_ZOO))
def test_arch_table_params_are_measured(arch):
    row = re.search(r'^\| %s \| ([0-9, ]+) \| ([0-9.]+) \|' % re.escape(arch), README, re.M)
    assert row, f'README arch table lacks {arch}'
    model = HRNet(arch=arch)
    assert [int(c) for c in row.group(1).split(',')] == model.out_channels
    assert float(row.group(2)) == pytest.approx(sum(p.numel() for p in model.parameters()) / 1e6, abs=0.005)
