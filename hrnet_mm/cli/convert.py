"""``hrnet-mm convert``: HRNet-C classification weights (timm, MSRA, mmpretrain) and the authors' face landmark
weights (MSRA) -> the layouts of configs/hrnet_cls and configs/hrnet_face."""
import argparse

from hrnet_mm.config_lookup import resolve_config
from hrnet_mm.constants import LAYOUTS

DESCRIPTION = """\
Convert HRNet-C ImageNet classifier weights of timm, the official MSRA release or mmpretrain to the
layout of the hrnet_cls configs (backbone + HRNetClsNeck + LinearClsHead), or the authors' HRNetV2-W18
facial landmark models (MSRA HRNet-Facial-Landmark-Detection) to the layout of the hrnet_face configs
(backbone + HRNetV2Neck + mmpose's HeatmapHead). The checkpoint's head tells which. With --config the
result must also load strictly into that config's model."""
EPILOG = """\
examples:
  hrnet-mm convert hrnet_w18.safetensors hrnet_w18_c.pth --from timm --config hrnet_cls/hrnet-w18-c_4xb32_in1k.py
  hrnet-mm convert HR18-WFLW.pth hr18_wflw.pth --from msra \\
      --config hrnet_face/td-hm_hrnetv2-w18_1xb16-60e_wflw-256x256.py"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``convert SRC DST --from {timm,msra,mmpretrain} [--config CONFIG]`` on argparse subparsers."""
    p = subparsers.add_parser('convert', help='convert HRNet-C classification weights (timm, MSRA, mmpretrain) or '
                                              "the authors' face landmark weights (MSRA) to our configs' layout",
                              description=DESCRIPTION, epilog=EPILOG)
    p.add_argument('src', help='.pth or .safetensors file')
    p.add_argument('dst', help='output .pth, or .safetensors (no pickle; recommended for weights you share)')
    p.add_argument('--from', dest='layout', required=True, choices=LAYOUTS,
                   help='timm: timm hrnet_w* weights; msra: official HRNet-Image-Classification files (same '
                        'layout) or HRNet-Facial-Landmark-Detection models; mmpretrain: mmpretrain\'s HRNet '
                        'classifiers')
    p.add_argument('--config', help="also check that the result loads strictly into this config's model (a file, "
                                    'a packaged name such as hrnet_cls/<name>.py or hrnet_face/<name>.py, or a '
                                    'pkg:: name)')
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    if args.config is not None:
        args.config = resolve_config(args.config)  # a wrong name fails before anything is read
    from hrnet_mm.convert import convert_checkpoint
    state_dict = convert_checkpoint(args.src, args.dst, args.layout, args.config)
    groups = {root: sum(1 for k in state_dict if k.startswith(root + '.')) for root in ('backbone', 'neck', 'head')}
    checked = f', loads strictly into {args.config}' if args.config else ''
    print(f"[hrnet-mm] wrote {args.dst}: {len(state_dict)} tensors (backbone {groups['backbone']}, neck "
          f"{groups['neck']}, head {groups['head']}) from the {args.layout} layout{checked}")
    return 0
