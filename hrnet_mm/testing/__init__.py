"""What tests, demos and benchmarks share: synthetic datasets and stock-HRNet twins.

Import the submodules: :mod:`.seg_data`, :mod:`.pose_data`, :mod:`.det_data`, :mod:`.cls_data` and
:mod:`.face_data` (``generate(root, ...)`` writes a small deterministic dataset) and :mod:`.twins`
(stock HRNets and BN randomization).
"""
