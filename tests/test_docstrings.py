"""Every docstring example in the package runs and prints what it shows."""
import doctest
import importlib
import pkgutil

import pytest
import torch

import hrnet_mm

# Modules that import optional task libraries at import time are still collected; none is skipped.
MODULES = sorted(m.name for m in pkgutil.walk_packages(hrnet_mm.__path__, 'hrnet_mm.')
                 if not m.name.endswith('__main__'))  # scripts: importing one runs it


def test_the_package_has_examples():
    finder = doctest.DocTestFinder()
    examples = sum(len(t.examples) for name in MODULES for t in finder.find(importlib.import_module(name)))
    assert examples >= 10, examples


@pytest.mark.parametrize('name', MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    # Examples assume `import torch`, as the ones of torch and timm do.
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, extraglobs={'torch': torch}, optionflags=flags, verbose=False)
    assert result.failed == 0, f'{result.failed} of {result.attempted} examples in {name} failed'
