"""Inference helpers on top of the task libraries' own inferencers."""
from pathlib import Path
from typing import Union

from hrnet_mm.errors import ConfigError


def infer_pose(config: str, checkpoint: str, image: Union[str, Path], out_dir: str, device: str = 'cpu') -> list:
    """Run a top-down pose config + checkpoint on one image with mmpose's ``MMPoseInferencer``.

    ``config`` is a path, a packaged name (``hrnet_pose/<name>.py``) or a ``pkg::`` name
    (:func:`~hrnet_mm.config_lookup.resolve_config`).

    The whole image is the person box (no detector is downloaded). Writes the drawn skeleton under
    ``out_dir/visualizations`` and the keypoints as JSON under ``out_dir/predictions``.

    Returns:
        list: One dict per person with ``keypoints`` (17 x [x, y]) and ``keypoint_scores``.

    Raises:
        FileNotFoundError: No such config.
        ConfigError: The config is no mmpose config, or the image is missing or no readable image.
    """
    import mmcv

    from hrnet_mm.config_lookup import load_config, resolve_config

    from .libraries import library_of
    path = resolve_config(config)
    library = library_of(load_config(path)).name
    if library != 'mmpose':
        raise ConfigError(f'config {config} is an {library} config; infer-pose takes mmpose configs (hrnet_pose/...)')
    try:
        readable = mmcv.imread(str(image)) is not None
    except Exception:  # mmcv raises FileNotFoundError / cv2 errors for missing or odd files
        readable = False
    if not readable:
        raise ConfigError(f'image {image} does not exist or is not a readable image')
    from mmpose.apis import MMPoseInferencer
    inferencer = MMPoseInferencer(pose2d=path, pose2d_weights=checkpoint, det_model='whole_image', device=device)
    result = next(inferencer(str(image), out_dir=out_dir))
    return result['predictions'][0]
