"""Inference helpers on top of the task libraries' own inferencers."""
from pathlib import Path
from typing import Optional, Union

from hrnet_mm.errors import ConfigError


def infer_pose(config: str, checkpoint: str, image: Union[str, Path], out_dir: str, device: str = 'cpu',
               max_pixels: Optional[int] = None) -> list:
    """Run a top-down pose config + checkpoint on one image with mmpose's ``MMPoseInferencer``.

    ``config`` is a path, a packaged name (``hrnet_pose/<name>.py``) or a ``pkg::`` name
    (:func:`~hrnet_mm.config_lookup.resolve_config`).

    The whole image is the person box (no detector is downloaded). Writes the drawn skeleton under
    ``out_dir/visualizations`` and the keypoints as JSON under ``out_dir/predictions``. The image is
    checked from its header before mmpose decodes it (:func:`~hrnet_mm.apis.images.check_image`).

    Args:
        config: The pose config.
        checkpoint: Its trained weights.
        image: The image file (the person fills it).
        out_dir: Output folder.
        device: Torch device.
        max_pixels: Largest width x height of the image (None: ``HRNET_MM_MAX_IMAGE_PIXELS``, else 100
            million).

    Returns:
        list: One dict per person with ``keypoints`` (17 x [x, y]) and ``keypoint_scores``.

    Raises:
        FileNotFoundError: No such config.
        ConfigError: The config is no mmpose config.
        InputError: The image is missing, no image, damaged, or over the pixel limit (named).
    """
    from hrnet_mm.config_lookup import load_config, resolve_config

    from .images import check_image, naming_unreadable
    from .libraries import library_of
    path = resolve_config(config)
    library = library_of(load_config(path)).name
    if library != 'mmpose':
        raise ConfigError(f'config {config} is an {library} config; infer-pose takes mmpose configs (hrnet_pose/...)')
    image = check_image(image, max_pixels)
    from mmpose.apis import MMPoseInferencer
    inferencer = MMPoseInferencer(pose2d=path, pose2d_weights=checkpoint, det_model='whole_image', device=device)
    with naming_unreadable([image]):
        result = next(inferencer(str(image), out_dir=out_dir))
    return result['predictions'][0]
