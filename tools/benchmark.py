"""Command line of :mod:`hrnet_mm.apis.benchmark` (see its docstring): ``python tools/benchmark.py --help``."""
import sys

from hrnet_mm.apis.benchmark import main

if __name__ == '__main__':
    sys.exit(main())
