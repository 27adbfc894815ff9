"""Image files handed to the task libraries' inferencers, checked from their header before anything decodes them.

An image's header says its size in a few bytes while its pixels may need gigabytes: a 12000 x 12000
PNG of one colour is a few hundred KB on disk and 432 MB decoded, and the libraries decode it more
than once (mmseg's inferencer reads it for the network and again for the drawing). So
:func:`check_image` reads the header only (PIL's ``Image.open`` is lazy), refuses an image of more
than :func:`max_pixels` pixels, checks what can be checked without decoding (a PNG's chunk checksums,
whether OpenCV has a decoder for the format), and leaves the one decode to the library.

The limit is, first found: the ``limit`` argument (``--max-pixels`` of ``hrnet-mm infer`` and
``infer-pose``), the environment variable ``HRNET_MM_MAX_IMAGE_PIXELS``, :data:`DEFAULT_MAX_PIXELS`.

Example:
    >>> max_pixels(5_000_000)
    5000000
"""
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

from hrnet_mm.constants import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV
from hrnet_mm.errors import ConfigError, InputError, short_line

OPENCV_LOG_SILENT = 0  # cv2.utils.logging.LOG_LEVEL_SILENT in OpenCV 4 and 5 alike

PathLike = Union[str, Path]


def max_pixels(limit: Optional[int] = None) -> int:
    """The largest width x height an image may have: ``limit``, else ``HRNET_MM_MAX_IMAGE_PIXELS``, else the default.

    Raises:
        ConfigError: ``limit`` or the variable is not a positive integer.
    """
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f'the image pixel limit must be a positive integer, got {limit!r}')
        return limit
    text = os.environ.get(MAX_PIXELS_ENV, '').strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text.replace('_', ''))
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f'{MAX_PIXELS_ENV} must be a positive integer (pixels), got {text!r}')
    return value


@contextmanager
def _no_pil_bomb_check() -> Iterator[None]:
    # PIL refuses images over twice its own limit when opening them, before we can read the size
    # that ours is about: the header is read with its limit lifted for that moment only.
    from PIL import Image
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def image_size(path: PathLike) -> Tuple[int, int]:
    """(width, height) from the file's header; no pixel is decoded.

    Raises:
        InputError: No such file, or no image format PIL knows.
    """
    from PIL import Image
    path = Path(path)
    if not path.is_file():
        raise InputError(f'image {path} does not exist')
    try:
        with _no_pil_bomb_check(), Image.open(path) as image:
            return image.size
    except Exception as err:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ... for odd files
        raise InputError(f'image {path} is not a readable image ({short_line(err, 120)})') from err


def _verify(path: Path) -> None:
    """Check what can be checked without decoding: the file's structure (a PNG's chunks and checksums
    to the end: a truncated or damaged PNG fails here) and whether OpenCV, which the libraries decode
    with, has a reader for the format."""
    import cv2
    from PIL import Image
    try:
        with _no_pil_bomb_check(), Image.open(path) as image:
            kind = image.format or 'unknown'
            image.verify()
    except Exception as err:
        raise InputError(f'image {path} is damaged or truncated ({short_line(err, 120)})') from err
    if not cv2.haveImageReader(str(path)):
        raise InputError(f'image {path} is in {kind} format, which OpenCV (what the libraries read images with) '
                         'cannot read; convert it to PNG or JPEG')


def check_image(path: PathLike, limit: Optional[int] = None) -> Path:
    """Check an image file before a library decodes it: it exists, is an image, is within the pixel limit.

    Args:
        path: The image file.
        limit: Largest width x height (None: :func:`max_pixels`).

    Returns:
        The path.

    Raises:
        InputError: No such file, not an image (or one OpenCV cannot read), damaged or truncated (as
            far as the format shows without decoding), or more pixels than the limit. The message
            names the file.
        ConfigError: A limit that is not a positive integer.
    """
    most = max_pixels(limit)
    path = Path(path)
    width, height = image_size(path)
    if width * height > most:
        raise InputError(f'image {path} is {width}x{height} = {width * height:,} pixels, over the limit of {most:,} '
                         f'(raise it with --max-pixels N or {MAX_PIXELS_ENV}=N)')
    _verify(path)
    return path


def check_images(images: Sequence[PathLike], limit: Optional[int] = None) -> List[Path]:
    """:func:`check_image` of each file, before any is decoded.

    Raises:
        InputError: No image given, or see :func:`check_image`.
    """
    if not images:
        raise InputError('no image given')
    return [check_image(p, limit) for p in images]


def decodes(path: PathLike) -> bool:
    """Whether the file decodes as the libraries decode it: mmcv's ``imfrombytes`` = OpenCV's ``imdecode``.

    (OpenCV's ``imread`` is more lenient: it returns a truncated JPEG that ``imdecode`` refuses.)
    OpenCV's own error log is silenced meanwhile: the caller says what failed, in one line.
    """
    import cv2
    import numpy as np
    # OpenCV 5 has the level functions in cv2.utils.logging; OpenCV 4 on cv2 itself.
    log: Any = getattr(cv2.utils, 'logging', None) or cv2
    get_level, set_level = log.getLogLevel, log.setLogLevel
    level = get_level()
    set_level(OPENCV_LOG_SILENT)
    try:
        return cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR) is not None
    except Exception:  # cv2.error, or an unreadable file
        return False
    finally:
        set_level(level)


@contextmanager
def naming_unreadable(paths: Sequence[Path]) -> Iterator[None]:
    """Turn a library's failure on an image it could not decode into an :class:`InputError` naming the file.

    Only a decode shows some damage (a truncated JPEG or BMP): when the code inside fails, the images
    are decoded once more (:func:`decodes`), one at a time, and the first that does not decode is
    named. Any other failure is raised as it was.
    """
    try:
        yield
    except InputError:
        raise  # names its file already (an engine's, say): no image need be decoded to tell
    except Exception as err:
        for path in paths:
            if not decodes(path):
                raise InputError(f'image {path} is damaged or truncated (OpenCV cannot decode it)') from err
        raise
