"""Command line of :mod:`hrnet_mm.synthetic.det_data` (see its docstring)."""
from hrnet_mm.synthetic.det_data import generate, main  # noqa: F401  (generate: for tools/demo.py)

if __name__ == '__main__':
    main()
