"""Stock HRNets next to ours: the builders and weight helpers that oracle tests and benchmarks share."""
from typing import Dict

import torch
from torch import nn

from hrnet_mm.models.backbones import ARCH_ZOO

# Our twin of each library's HRNet: its low -> high resize and output layout.
OURS_LIKE: Dict[str, dict] = {
    'mmseg': dict(upsample_cfg=dict(mode='bilinear', align_corners=False)),
    'mmpose': dict(multiscale_output=False),
    'mmdet': dict(),
    'timm': dict(),
}
TIMM_NAMES = {'w18-small-v1': 'hrnet_w18_small', 'w18-small-v2': 'hrnet_w18_small_v2'}


def stock_hrnet(library: str, arch: str, multiscale_output: bool = True, with_cp: bool = False) -> nn.Module:
    """The HRNet of ``library`` (mmseg, mmpose, mmdet or timm) for a preset, as its configs build it.

    mmpose's takes the single-output layout unless ``multiscale_output``; timm's is its
    ``features_only`` model of the four branches.
    """
    extra = {k: dict(v) for k, v in ARCH_ZOO[arch].items()}
    if library == 'timm':
        import timm
        if with_cp:
            raise ValueError("timm's HRNet has no with_cp")
        return timm.create_model(TIMM_NAMES.get(arch, f'hrnet_{arch}'), features_only=True,
                                 feature_location='', out_indices=(1, 2, 3, 4))
    module = __import__(f'{library}.models.backbones', fromlist=['HRNet'])
    bn = dict(type='BN', requires_grad=True)
    if library == 'mmpose':
        extra['stage4']['multiscale_output'] = multiscale_output
        return module.HRNet(extra=extra, norm_cfg=bn, with_cp=with_cp)
    return module.HRNet(extra=extra, norm_cfg=bn, norm_eval=False, with_cp=with_cp,
                        multiscale_output=multiscale_output)


def randomize_norms(model: nn.Module, seed: int = 0, affine: bool = False) -> nn.Module:
    """Non-trivial BN statistics (and, with ``affine``, weights and biases), so that a mix-up of
    statistics, folding or mode changes the outputs. Returns ``model``.

    Example:
        >>> bn = randomize_norms(nn.BatchNorm2d(4), seed=1)
        >>> bool(bn.running_var.min() >= 0.5) and bool(bn.running_mean.abs().max() <= 0.1)
        True
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d) and m.track_running_stats:
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                if affine and m.affine:
                    m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                    m.bias.copy_(torch.rand(m.num_features, generator=gen) * 0.2 - 0.1)
    return model
