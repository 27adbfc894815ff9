"""The README and docs state what the code measures and name files that exist."""
import re
from pathlib import Path

import pytest

from hrnet_mm.models import HRNet
from hrnet_mm.models.backbones import ARCH_ZOO

REPO = Path(__file__).resolve().parents[1]
README = (REPO / 'README.md').read_text()
PAGES = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]


@pytest.mark.parametrize('arch', sorted(ARCH_ZOO))
def test_arch_table_params_are_measured(arch):
    row = re.search(r'^\| %s \| ([0-9, ]+) \| ([0-9.]+) \|' % re.escape(arch), README, re.M)
    assert row, f'README arch table lacks {arch}'
    model = HRNet(arch=arch)
    assert [int(c) for c in row.group(1).split(',')] == model.out_channels
    assert float(row.group(2)) == pytest.approx(sum(p.numel() for p in model.parameters()) / 1e6, abs=0.005)


def test_the_readme_stays_short():
    assert len(README.split()) <= 1000


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_relative_links_name_files_that_exist(page):
    targets = re.findall(r'\]\(([^)#]+)(?:#[^)]*)?\)', page.read_text())
    local = [t for t in targets if '://' not in t]
    assert all((page.parent / t).exists() for t in local), [t for t in local if not (page.parent / t).exists()]


def test_the_architecture_layout_matches_the_tree():
    text = (REPO / 'docs' / 'architecture.md').read_text()
    block = text.split('## Layout', 1)[1].split('```')[1]
    listed = [line.split()[0] for line in block.strip().splitlines()]
    assert [p for p in listed if not (REPO / p).exists()] == []
    folders = [p for p in listed if p.endswith('/')]
    # Every module of the network by name; the rest of the package by module or by folder.
    modules = [p.relative_to(REPO).as_posix() for p in (REPO / 'hrnet_mm').rglob('*.py')
               if p.name not in ('__init__.py', '__main__.py', 'version.py') and '.mim' not in p.parts]
    unlisted = [m for m in modules if m not in listed
                and (m.startswith('hrnet_mm/models/') or not any(m.startswith(f) for f in folders))]
    assert unlisted == []
