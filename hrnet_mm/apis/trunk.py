"""The dense part of a detector, whose cost does not depend on the number of proposals."""
from torch import Tensor, nn

DET_SIZE = (800, 1333)  # (H, W) at which the paper counts detection GFLOPs


class DetectorTrunk(nn.Module):
    """Backbone + neck + the dense head (RPN, or the head of a single-stage detector) of an mmdet detector.

    GFLOPs of detectors are counted on this (``tools/config_params.py``, the metafiles): RoI heads
    cost per proposal (~13 GFLOPs per 1000 RoIs for the 2-fc box head), so they are left out.
    """

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector
        self.head = getattr(detector, 'rpn_head', None) or detector.bbox_head

    def forward(self, x: Tensor):
        return self.head(self.detector.extract_feat(x))  # type: ignore[operator]
