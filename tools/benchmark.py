"""`make bench`: hrnet_mm's HRNet against the stock HRNets, or whole iterations of configs (``--configs``).

``python tools/benchmark.py --help`` lists the flags; the method is in docs/benchmarks.md and in
``tools/benchmarking/backbone.py``.
"""
import sys

from benchmarking.backbone import main

if __name__ == '__main__':
    sys.exit(main())
