"""Small deterministic datasets that the demos train on, in each library's own format.

One module per task: :mod:`.seg_data`, :mod:`.pose_data`, :mod:`.det_data`, :mod:`.cls_data` and
:mod:`.face_data`; ``generate(root, ...)`` writes a dataset, ``main`` is the command line that the
packaged mim tools (``tools/make_<task>_data.py``) run. :mod:`.synthetic_io` writes the splits.
"""
