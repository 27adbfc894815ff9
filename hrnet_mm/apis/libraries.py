"""What hrnet_mm knows about each OpenMMLab task library, in one table.

Everything that differs between mmseg, mmpose and mmdet (how their train tool resumes, what an
exported model returns, the input size a config trains at) is a field of :class:`Library`; code
elsewhere looks the library up by a config's ``default_scope`` instead of branching on its name.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from hrnet_mm.errors import ConfigError

Size = Tuple[int, int]


def _seg_input_size(cfg) -> Optional[Size]:
    return tuple(cfg.crop_size) if cfg.get('crop_size') else None  # type: ignore[return-value]


def _pose_input_size(cfg) -> Optional[Size]:
    codec = cfg.get('codec')
    if codec and 'input_size' in codec:
        w, h = codec['input_size']  # mmpose writes (W, H)
        return h, w
    return None


def _cls_input_size(cfg) -> Optional[Size]:
    for step in cfg.get('train_pipeline') or []:  # RandomResizedCrop(scale=224) and the like
        scale = step.get('scale') if 'Crop' in str(step.get('type', '')) else None
        if isinstance(scale, int):
            return scale, scale
    return None


def _no_input_size(cfg) -> Optional[Size]:
    return None


@dataclass(frozen=True)
class Library:
    """One OpenMMLab task library as hrnet_mm drives it.

    Attributes:
        name: Package and registry scope (``default_scope`` of its configs).
        resume_is_flag: Its ``tools/train.py --resume`` takes no path (the checkpoint goes to ``load_from``).
        export_features: Export ``model.extract_feat`` (detectors: box decoding needs image metas)
            instead of ``model(x, None, mode='tensor')``.
        output_name: Name of the exported outputs (``logits``, ``heatmaps``, ``feat``).
        fallback_input_size: (H, W) when the config states none.
        input_size_of: Reads the (H, W) a config trains at, or None.
        is_detector: Has a dense detection trunk (backbone + neck + RPN/dense head).
    """

    name: str
    resume_is_flag: bool
    export_features: bool
    output_name: str
    fallback_input_size: Size
    input_size_of: Callable
    is_detector: bool = False

    def input_size(self, cfg) -> Size:
        """(H, W) a config trains at: its crop / codec size, else :attr:`fallback_input_size`."""
        return self.input_size_of(cfg) or self.fallback_input_size


LIBRARIES: Dict[str, Library] = {
    'mmseg': Library('mmseg', resume_is_flag=True, export_features=False, output_name='logits',
                     fallback_input_size=(512, 512), input_size_of=_seg_input_size),
    'mmpose': Library('mmpose', resume_is_flag=False, export_features=False, output_name='heatmaps',
                      fallback_input_size=(256, 192), input_size_of=_pose_input_size),
    'mmdet': Library('mmdet', resume_is_flag=False, export_features=True, output_name='feat',
                     fallback_input_size=(800, 1344), input_size_of=_no_input_size, is_detector=True),
    'mmpretrain': Library('mmpretrain', resume_is_flag=False, export_features=False, output_name='logits',
                          fallback_input_size=(224, 224), input_size_of=_cls_input_size),
}


def library_of(cfg) -> Library:
    """The library that owns a config, from its ``default_scope``.

    Raises:
        ConfigError: The scope is missing or not a library hrnet_mm drives.
    """
    scope = cfg.get('default_scope')
    if scope not in LIBRARIES:
        raise ConfigError(f"config default_scope must be one of {tuple(LIBRARIES)}, got {scope!r}; inherit a stock "
                          "config (e.g. _base_ = 'mmseg::...') or set default_scope")
    return LIBRARIES[scope]
