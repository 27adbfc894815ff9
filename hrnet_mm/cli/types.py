"""argparse value types that reject bad values with a message naming the value."""
import argparse
from typing import Tuple


def _int_at_least(minimum: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected {what}, got {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f'expected {what}, got {value}')
        return value
    return parse


positive_int = _int_at_least(1, 'a positive integer')
non_negative_int = _int_at_least(0, 'an integer >= 0')


def port(text: str) -> int:
    value = non_negative_int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f'expected a TCP port in 1..65535, got {value}')
    return value


def cfg_option(text: str) -> str:
    """One ``key=value`` of ``--cfg-options`` (the value is parsed later, as the stock tools parse it)."""
    key, equals, _ = text.partition('=')
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f'expected KEY=VALUE such as train_cfg.max_iters=100, got {text!r}')
    return text


def height_width(text: str) -> Tuple[int, int]:
    """``HxW`` such as ``256x192``."""
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected HxW such as 256x192, got {text!r}') from None
    if h < 32 or w < 32:
        raise argparse.ArgumentTypeError(f'height and width must be >= 32, got {text!r}')
    return h, w

