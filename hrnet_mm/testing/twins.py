"""Stock HRNets next to ours: the builders and weight helpers that oracle tests and benchmarks share."""
from typing import Any, Dict

import torch
from torch import nn

# Our twin of each library's HRNet: its low -> high resize and output layout.
OURS_LIKE: Dict[str, dict] = {
    'mmseg': dict(upsample_cfg=dict(mode='bilinear', align_corners=False)),
    'mmpose': dict(multiscale_output=False),
    'mmdet': dict(),
    'timm': dict(),
}
TIMM_NAMES = {'w18-small-v1': 'hrnet_w18_small', 'w18-small-v2': 'hrnet_w18_small_v2'}


def timm_name(arch: str) -> str:
    """timm's model name of one of our presets (``w18-small-v1`` -> ``hrnet_w18_small``)."""
    return TIMM_NAMES.get(arch, f'hrnet_{arch}')


def stock_extra(arch: str) -> Dict[str, dict]:
    """The ``extra`` dict the stock HRNets take for a preset, written from timm's own table of the
    paper's models (``timm.models.hrnet.cfg_cls``), not from ours: what the tests compare against.

    Example:
        >>> stock_extra('w32')['stage3']
        {'num_modules': 4, 'num_branches': 3, 'block': 'BASIC', 'num_blocks': (4, 4, 4), 'num_channels': (32, 64, 128)}
    """
    from timm.models.hrnet import cfg_cls
    stages: Dict[str, Any] = cfg_cls[timm_name(arch)]
    return {f'stage{i}': dict(num_modules=stages[f'stage{i}']['num_modules'],
                              num_branches=stages[f'stage{i}']['num_branches'],
                              block=stages[f'stage{i}']['block_type'],
                              num_blocks=tuple(stages[f'stage{i}']['num_blocks']),
                              num_channels=tuple(stages[f'stage{i}']['num_channels'])) for i in range(1, 5)}


def stock_hrnet(library: str, arch: str, multiscale_output: bool = True, with_cp: bool = False) -> nn.Module:
    """The HRNet of ``library`` (mmseg, mmpose, mmdet or timm) for a preset (:func:`stock_extra`), as
    its configs build it.

    mmpose's takes the single-output layout unless ``multiscale_output``; timm's is its
    ``features_only`` model of the four branches.
    """
    extra = stock_extra(arch)
    if library == 'timm':
        import timm
        if with_cp:
            raise ValueError("timm's HRNet has no with_cp")
        return timm.create_model(timm_name(arch), features_only=True,
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
