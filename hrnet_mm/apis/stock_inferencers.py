"""The stock inferencer of a config's library, for the config names every ``hrnet-mm`` command takes.

mmengine's inferencers take a config file, a ``Config`` or a model name from their own library's
model index, not ``hrnet_mm::hrnet_seg/<name>.py`` or ``hrnet_seg/<name>.py``.
:func:`stock_inferencer` resolves any of these names once and hands the loaded config to the
library's own inferencer, which then works as documented by that library.
"""
from typing import Any, Optional

from hrnet_mm.config_lookup import load_config

from .libraries import library_of


def stock_inferencer(config: Any, weights: Optional[str] = None, device: Optional[str] = None, **kwargs: Any) -> Any:
    """The library's own inferencer for ``config`` with ``weights``.

    Args:
        config: A config path, a packaged name (``hrnet_seg/<name>.py``), a ``pkg::`` name
            (``hrnet_mm::hrnet_pose/<name>.py``, ``mmseg::...``) or a loaded ``Config``.
        weights: The checkpoint (path or URL), loaded through mmengine's loaders (ours once hrnet_mm
            is active: data only).
        device: Torch device (None: the inferencer's choice, CUDA when available).
        **kwargs: Passed to the inferencer (e.g. ``det_model`` for mmpose, ``palette`` for mmseg).

    Returns:
        ``MMSegInferencer`` (mmseg), ``MMPoseInferencer`` with the config as its 2-D pose model
        (mmpose), ``DetInferencer`` (mmdet) or ``ImageClassificationInferencer`` (mmpretrain).

    Raises:
        FileNotFoundError: No such config.
        ConfigError: A config mmengine cannot parse, or of no library hrnet_mm drives.

    Example:
        >>> cls = stock_inferencer('hrnet_cls/hrnet-w18s-v1-c_1xb32-1000it_synthetic-64x64.py', device='cpu')
        >>> type(cls).__name__
        'ImageClassificationInferencer'
    """
    import hrnet_mm
    hrnet_mm.activate()
    cfg = load_config(config)
    library = library_of(cfg).name
    if library == 'mmseg':
        from mmseg.apis import MMSegInferencer
        return MMSegInferencer(cfg, weights, device=device, **kwargs)
    if library == 'mmpose':
        from mmpose.apis import MMPoseInferencer
        return MMPoseInferencer(pose2d=cfg, pose2d_weights=weights, device=device, **kwargs)
    if library == 'mmdet':
        from mmdet.apis import DetInferencer
        return DetInferencer(cfg, weights, device=device, **kwargs)
    from mmpretrain.apis import ImageClassificationInferencer
    return ImageClassificationInferencer(cfg, pretrained=weights or False, device=device, **kwargs)
