"""Parameter and GFLOP counting the way the paper does, and the paper's reference models.

The paper (and the official MSRA code) counts multiply-adds of conv and linear layers only and
divides by 2**30. mmengine's ``get_model_complexity_info`` also counts norms, activations and
resizes and divides by 1e9, so it reads about 7% higher for the same model.
"""
import json
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from mmengine.model import BaseModel
from torch import Tensor, nn

from .models import HRNet
from .models.necks import HRNetClsNeck, concat_to_highest

PAPER_TABLE = Path(__file__).parent / 'data' / 'paper_table.json'


def paper_table() -> Dict[str, List[dict]]:
    """The paper's params/GFLOPs/accuracy rows, keyed by task ('pose', 'seg', 'det_faster_rcnn', 'cls', 'face')."""
    return {k: v for k, v in json.loads(PAPER_TABLE.read_text()).items() if not k.startswith('_')}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_gflops(model: nn.Module, input_shape: Sequence[int]) -> float:
    """Multiply-adds of every Conv2d / Linear for one image of ``input_shape`` (C, H, W), / 2**30.

    Works on models built on the ``meta`` device (shapes only, no arithmetic), which is how
    :func:`measure` counts even 1024x2048 inputs instantly.
    """
    total = 0

    def hook(module: nn.Module, inputs, output) -> None:
        nonlocal total
        weight = module.weight
        assert isinstance(weight, Tensor)
        if isinstance(module, nn.Conv2d):
            total += weight.numel() * output.shape[-2] * output.shape[-1]
        else:
            total += weight.numel() * output[..., 0].numel() // output.shape[0]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    try:
        param = next(model.parameters())
        x = torch.zeros(1, *input_shape, device=param.device, dtype=param.dtype)
        model.eval()
        # OpenMMLab estimators take (inputs, data_samples, mode); plain modules take the tensor alone.
        model(x, None, mode='tensor') if isinstance(model, BaseModel) else model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total / 2**30


class PoseReference(nn.Sequential):
    """The paper's pose network: HRNet V1 (``multiscale_output=False``) + 1x1 heatmap conv.

    Shapes: (N, 3, H, W) -> (N, num_keypoints, ceil(H / 4), ceil(W / 4)).
    """

    def __init__(self, arch: str, num_keypoints: int = 17):
        backbone = HRNet(arch=arch, multiscale_output=False)
        super().__init__()
        self.backbone = backbone
        self.final_layer = nn.Conv2d(backbone.out_channels[0], num_keypoints, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.backbone(x)[0])


class SegReference(nn.Module):
    """The paper's segmentation network: HRNetV2 (15C concat) + 1x1 conv-BN-ReLU + 1x1 classifier.

    Shapes: (N, 3, H, W) -> (N, num_classes, ceil(H / 4), ceil(W / 4)).
    """

    def __init__(self, arch: str, num_classes: int = 19):
        super().__init__()
        self.backbone = HRNet(arch=arch, upsample_cfg=dict(mode='bilinear', align_corners=False))
        channels = sum(self.backbone.out_channels)
        self.last_layer = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels),
                                        nn.ReLU(inplace=True), nn.Conv2d(channels, num_classes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_layer(concat_to_highest(self.backbone(x)))


class FaceReference(SegReference):
    """The paper's facial landmark network: HRNetV2 (15C concat) + 1x1 conv-BN-ReLU + 1x1 conv to K heatmaps.

    The segmentation network with heatmaps for classes (the authors' face code builds the same
    layers); ``configs/hrnet_face`` builds it from mmpose's ``HeatmapHead``.

    Shapes: (N, 3, H, W) -> (N, num_keypoints, ceil(H / 4), ceil(W / 4)).
    """

    def __init__(self, arch: str, num_keypoints: int = 98):
        super().__init__(arch, num_keypoints)


class ClsReference(nn.Module):
    """The paper's classification network HRNet-C: HRNet + :class:`HRNetClsNeck` (2048-d) + linear classifier.

    Shapes: (N, 3, H, W) -> (N, num_classes).
    """

    def __init__(self, arch: str, num_classes: int = 1000):
        super().__init__()
        self.backbone = HRNet(arch=arch, multiscale_output=True)
        self.neck = HRNetClsNeck(self.backbone.out_channels)
        self.classifier = nn.Linear(self.neck.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.neck(self.backbone(x))[0])


def measure(task: str, arch: str, input_hw: Tuple[int, int], num_outputs: int) -> Tuple[float, float]:
    """(params in millions, paper GFLOPs) of the paper's model for ``task``.

    Args:
        task: 'backbone', 'pose', 'seg', 'cls' or 'face'.
        arch: Preset of :data:`~hrnet_mm.models.archs.ARCH_ZOO`.
        input_hw: (H, W) of the image.
        num_outputs: Keypoints (pose, face) or classes (seg, cls).

    Example:
        >>> params, gflops = measure('face', 'w18', (256, 256), 98)  # HRNetV2-W18 on WFLW's 98 landmarks
        >>> round(params, 2), round(gflops, 2)
        (9.66, 4.37)
    """
    builders: Dict[str, Callable[[], nn.Module]] = {
        'pose': lambda: PoseReference(arch, num_outputs), 'seg': lambda: SegReference(arch, num_outputs),
        'cls': lambda: ClsReference(arch, num_outputs), 'face': lambda: FaceReference(arch, num_outputs),
        'backbone': lambda: HRNet(arch=arch)}
    if task not in builders:
        raise ValueError(f'task must be one of {sorted(builders)}, got {task!r}')
    with torch.device('meta'):
        model = builders[task]()
    return count_params(model) / 1e6, count_gflops(model, (3, *input_hw))
