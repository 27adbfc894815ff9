"""What the tests and benchmarks share: stock-HRNet twins (:mod:`.twins`), checkpoint writers and
readers, the checkpoint fuzz harness and the CLI test helpers. The demo datasets are
:mod:`hrnet_mm.synthetic`.
"""
