"""`make bench`: hrnet_mm's HRNet against the stock HRNets, or whole iterations of configs (``--configs``).

``python tools/benchmark.py --help`` lists the flags; the method is in docs/benchmarks.md and in
``tools/benchmarking/backbone.py``. ``python tools/benchmark.py topdown [--help]``: top-down pose on
image files from boxes against MMPoseInferencer (``tools/benchmarking/topdown.py``).
"""
import sys

from benchmarking.backbone import main

if __name__ == '__main__':
    if sys.argv[1:2] == ['topdown']:
        from benchmarking.topdown import main as topdown_main
        sys.exit(topdown_main(sys.argv[2:]))
    sys.exit(main())
