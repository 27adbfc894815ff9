"""``hrnet-mm convert``: HRNet-C classification weights (timm, MSRA, mmpretrain) -> the configs/hrnet_cls layout."""
from hrnet_mm.convert import add_convert_command, run_convert


def add_parser(sub) -> None:
    add_convert_command(sub)


run = run_convert
