"""The benchmarks behind ``tools/benchmark.py``, kept outside the installed package.

:mod:`.backbone`: our HRNet against the stock HRNets (same weights, one process, taking turns);
:mod:`.iterations`: whole ``train_step`` / ``test_step`` iterations of real configs (``--configs``);
:mod:`.timing`: the device sync, rounds and quartiles both use. Method: docs/benchmarks.md.
"""
