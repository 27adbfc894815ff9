"""Checkpoint converters: weights of other code bases -> the models of our configs.

Two targets, told apart by the checkpoint's head (:func:`detect_layout`):

classification (``configs/hrnet_cls``)
    mmpretrain's ``ImageClassifier`` with ``backbone`` = :class:`~hrnet_mm.models.HRNet`, ``neck`` =
    :class:`~hrnet_mm.models.necks.HRNetClsNeck` and ``head`` = mmpretrain's ``LinearClsHead`` (``head.fc``).
facial landmarks (``configs/hrnet_face``)
    mmpose's ``TopdownPoseEstimator`` with ``backbone`` = :class:`~hrnet_mm.models.HRNet`, ``neck`` =
    :class:`~hrnet_mm.models.necks.HRNetV2Neck` (no weights) and ``head`` = mmpose's ``HeatmapHead``
    with one 1x1 conv layer: ``head.conv_layers.0`` (conv 270 -> 270 with bias), ``head.conv_layers.1``
    (BN), ``head.final_layer`` (1x1 conv to the K heatmaps). mmpose's own face checkpoints have these
    keys already and need no conversion.

Source layouts (:data:`SOURCE_LAYOUTS`; ``--from`` names the code base, the keys tell the task):

``timm`` / ``msra`` (classification)
    timm's ``hrnet_w*`` models and the official MSRA HRNet-Image-Classification checkpoints share
    one layout: backbone keys at the top level (``conv1``, ``layer1``, ``transition1``,
    ``stage2``, ...), then ``incre_modules``, ``downsamp_modules``, ``final_layer`` and
    ``classifier``. Backbone and head keys only gain the prefixes ``backbone.`` / ``neck.``;
    ``classifier`` becomes ``head.fc``.
``mmpretrain`` (classification)
    mmpretrain's HRNet classifiers: ``backbone.*`` (already our keys), the ``HRFuseScales`` neck
    at ``neck.0.increase_layers`` / ``downsample_layers`` / ``final_layer`` (conv + bn
    submodules, convs without bias) and ``head.fc``. The missing conv biases become zeros, which
    computes the same function.
``msra`` (facial landmarks)
    The authors' HRNet-Facial-Landmark-Detection models (``HighResolutionNet`` of its
    ``lib/models/hrnet.py``; released files are a plain state dict, training snapshots wrap it in
    ``state_dict`` with DataParallel's ``module.`` prefix): backbone keys at the top level as above,
    and ``head`` = ``nn.Sequential(conv 1x1 270 -> 270 with bias, BN, ReLU, conv 1x1 -> K)``, so
    ``head.0`` -> ``head.conv_layers.0``, ``head.1`` -> ``head.conv_layers.1`` and ``head.3`` ->
    ``head.final_layer``. Its four-branch concatenation (bilinear, ``align_corners=False``) is
    our neck's, without weights. Only the released ``FINAL_CONV_KERNEL: 1`` form maps (a 3x3 head
    does not fit the configs' 1x1 convs and fails as a shape mismatch).

Every converted BN layer carries ``num_batches_tracked`` (files from old PyTorch versions lack
it), so the result loads with ``strict=True``.
"""
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

from hrnet_mm.apis.build import build_model, load_config
from hrnet_mm.apis.libraries import library_of
from hrnet_mm.checkpoint.backbone import load_strictly, unwrap_state_dict
from hrnet_mm.checkpoint.safetensors_file import META_KEY, meta_as_text, save_safetensors
from hrnet_mm.checkpoint.saving import temporary_file
from hrnet_mm.constants import LAYOUTS
from hrnet_mm.errors import ConfigError

StateDict = Dict[str, Tensor]
BACKBONE_ROOTS = ('conv1', 'bn1', 'conv2', 'bn2', 'layer1', 'transition1', 'transition2', 'transition3',
                  'stage2', 'stage3', 'stage4')
NECK_ROOTS = ('incre_modules', 'downsamp_modules', 'final_layer')
# The authors' face head: nn.Sequential index -> our HeatmapHead's module (index 2 is the ReLU).
FACE_HEAD = {'0': 'conv_layers.0', '1': 'conv_layers.1', '3': 'final_layer'}


def detect_layout(state_dict: Mapping[str, Any]) -> Optional[str]:
    """The source layout of a state dict, from its head's keys.

    Returns:
        'timm' (also the MSRA classification layout), 'mmpretrain', 'msra-face' (the authors' face
        models), 'hrnet_mm' (already ours, mmpose's face checkpoints included) or None.

    Example:
        >>> detect_layout({'neck.0.increase_layers.0.0.conv1.weight': torch.zeros(1)})
        'mmpretrain'
        >>> detect_layout({'conv1.weight': torch.zeros(1), 'head.3.weight': torch.zeros(1)})
        'msra-face'
    """
    keys = list(state_dict)
    if any(k.startswith(('neck.incre_modules.', 'head.conv_layers.', 'head.final_layer.')) for k in keys):
        return 'hrnet_mm'
    if any(k.startswith('neck.0.increase_layers.') for k in keys):
        return 'mmpretrain'
    if any(k.split('.')[0] in NECK_ROOTS + ('classifier',) for k in keys):
        return 'timm'
    if any(re.match(r'head\.[013]\.', k) for k in keys) and not any(k.startswith('backbone.') for k in keys):
        return 'msra-face'
    return None


def _complete(state_dict: StateDict) -> StateDict:
    """Zero biases for the bias-free convs of ``downsamp_modules`` / ``final_layer``; ``num_batches_tracked``."""
    out: StateDict = OrderedDict()
    for key, value in state_dict.items():
        out[key] = value
        conv = re.fullmatch(r'(neck\.(?:downsamp_modules\.\d+|final_layer)\.0)\.weight', key)
        if conv and f'{conv.group(1)}.bias' not in state_dict:
            out[f'{conv.group(1)}.bias'] = value.new_zeros(value.shape[0])
    for key in list(out):
        if key.endswith('.running_var'):
            tracked = key[:-len('running_var')] + 'num_batches_tracked'
            out.setdefault(tracked, torch.tensor(0, dtype=torch.long))
    return out


def _reject_unknown(unknown: List[str], layout: str, what: str = 'HRNet-C') -> None:
    if unknown:
        found = detect_layout(dict.fromkeys(unknown))
        hint = f'; it looks like the {found} layout' if found and found != layout else ''
        raise ConfigError(f'{len(unknown)} keys are no part of the {layout} {what} layout, e.g. {unknown[:4]}{hint}')


def convert_timm(state_dict: Mapping[str, Tensor]) -> StateDict:
    """timm ``hrnet_w*`` / official MSRA HRNet-C keys -> ours.

    Args:
        state_dict: Keys such as ``conv1.weight``, ``stage4.2.fuse_layers.0.1.0.weight``,
            ``incre_modules.0.0.conv1.weight``, ``downsamp_modules.0.0.bias``, ``classifier.weight``.

    Returns:
        ``backbone.*``, ``neck.*`` and ``head.fc.*`` keys with the same tensors (not copied).

    Raises:
        ConfigError: Keys of another layout, naming some of them.

    Example:
        >>> sd = {'conv1.weight': torch.zeros(64, 3, 3, 3), 'final_layer.0.weight': torch.zeros(2048, 1024, 1, 1),
        ...       'final_layer.0.bias': torch.zeros(2048), 'classifier.bias': torch.zeros(1000)}
        >>> list(convert_timm(sd))
        ['backbone.conv1.weight', 'neck.final_layer.0.weight', 'neck.final_layer.0.bias', 'head.fc.bias']
    """
    out: StateDict = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        root = key.split('.')[0]
        if root in BACKBONE_ROOTS:
            out[f'backbone.{key}'] = value
        elif root in NECK_ROOTS:
            out[f'neck.{key}'] = value
        elif root == 'classifier':
            out[f'head.fc.{key[len(root) + 1:]}'] = value
        else:
            unknown.append(key)
    _reject_unknown(unknown, 'timm / MSRA')
    return _complete(out)


convert_msra = convert_timm  # the official classification files and timm's models share the layout


_MMPRETRAIN_NECK = [
    (re.compile(r'neck\.0\.increase_layers\.(\d+)\.(.+)'), r'neck.incre_modules.\1.\2'),
    (re.compile(r'neck\.0\.downsample_layers\.(\d+)\.conv\.(.+)'), r'neck.downsamp_modules.\1.0.\2'),
    (re.compile(r'neck\.0\.downsample_layers\.(\d+)\.bn\.(.+)'), r'neck.downsamp_modules.\1.1.\2'),
    (re.compile(r'neck\.0\.final_layer\.conv\.(.+)'), r'neck.final_layer.0.\1'),
    (re.compile(r'neck\.0\.final_layer\.bn\.(.+)'), r'neck.final_layer.1.\1'),
]


def convert_mmpretrain(state_dict: Mapping[str, Tensor]) -> StateDict:
    """mmpretrain ``ImageClassifier`` (HRNet + ``HRFuseScales`` + ``GlobalAveragePooling`` + ``LinearClsHead``) -> ours.

    Raises:
        ConfigError: Keys of another layout, naming some of them.

    Example:
        >>> sd = {'backbone.conv1.weight': torch.zeros(64, 3, 3, 3),
        ...       'neck.0.downsample_layers.2.conv.weight': torch.zeros(1024, 512, 3, 3),
        ...       'neck.0.downsample_layers.2.bn.running_var': torch.ones(1024),
        ...       'head.fc.weight': torch.zeros(1000, 2048)}
        >>> list(convert_mmpretrain(sd))  # doctest: +NORMALIZE_WHITESPACE
        ['backbone.conv1.weight', 'neck.downsamp_modules.2.0.weight', 'neck.downsamp_modules.2.0.bias',
         'neck.downsamp_modules.2.1.running_var', 'head.fc.weight', 'neck.downsamp_modules.2.1.num_batches_tracked']
    """
    out: StateDict = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        if key.startswith(('backbone.', 'head.fc.')):
            out[key] = value
            continue
        for pattern, target in _MMPRETRAIN_NECK:
            if pattern.fullmatch(key):
                out[pattern.sub(target, key)] = value
                break
        else:
            unknown.append(key)
    _reject_unknown(unknown, 'mmpretrain')
    return _complete(out)


def convert_msra_face(state_dict: Mapping[str, Tensor]) -> StateDict:
    """The authors' HRNet-Facial-Landmark-Detection keys -> ours (``configs/hrnet_face``).

    Args:
        state_dict: Keys such as ``conv1.weight``, ``stage4.2.fuse_layers.0.3.1.running_var``,
            ``head.0.bias`` (conv 270 -> 270), ``head.1.running_mean`` (BN), ``head.3.weight`` (conv to K).

    Returns:
        ``backbone.*`` and ``head.conv_layers.*`` / ``head.final_layer.*`` keys with the same tensors (not copied).

    Raises:
        ConfigError: Keys of another layout, naming some of them.

    Example:
        >>> sd = {'conv1.weight': torch.zeros(64, 3, 3, 3), 'head.0.bias': torch.zeros(270),
        ...       'head.1.running_var': torch.ones(270), 'head.3.weight': torch.zeros(98, 270, 1, 1)}
        >>> list(convert_msra_face(sd))  # doctest: +NORMALIZE_WHITESPACE
        ['backbone.conv1.weight', 'head.conv_layers.0.bias', 'head.conv_layers.1.running_var',
         'head.final_layer.weight', 'head.conv_layers.1.num_batches_tracked']
    """
    out: StateDict = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        head = re.fullmatch(r'head\.(\d+)\.(.+)', key)
        if key.split('.')[0] in BACKBONE_ROOTS:
            out[f'backbone.{key}'] = value
        elif head and head.group(1) in FACE_HEAD:
            out[f'head.{FACE_HEAD[head.group(1)]}.{head.group(2)}'] = value
        else:
            unknown.append(key)
    _reject_unknown(unknown, 'msra-face', 'face landmark')
    return _complete(out)


@dataclass(frozen=True)
class SourceLayout:
    """One source layout: what it is for and where its converted weights load.

    Attributes:
        task: What the weights do, for messages ('HRNet-C classification', 'facial landmarks').
        sources: The ``--from`` names (:data:`LAYOUTS`) of the code bases that write it.
        library: The library whose configs take the converted weights.
        configs: Our config folder of that task.
        convert: The converter.
    """

    task: str
    sources: Tuple[str, ...]
    library: str
    configs: str
    convert: Callable[[Mapping[str, Tensor]], StateDict]


# detect_layout's answer -> its layout.
SOURCE_LAYOUTS: Dict[str, SourceLayout] = {
    'timm': SourceLayout('HRNet-C classification', ('timm', 'msra'), 'mmpretrain', 'hrnet_cls', convert_timm),
    'mmpretrain': SourceLayout('HRNet-C classification', ('mmpretrain',), 'mmpretrain', 'hrnet_cls',
                               convert_mmpretrain),
    'msra-face': SourceLayout('facial landmarks', ('msra',), 'mmpose', 'hrnet_face', convert_msra_face),
}


def source_layout(state_dict: Mapping[str, Tensor], layout: str) -> SourceLayout:
    """The :class:`SourceLayout` of a state dict said to come from ``layout`` (one of :data:`LAYOUTS`).

    Raises:
        ConfigError: Unknown ``layout``; keys already ours, of no known head, or of another code base
            than ``layout`` (the message names the right ``--from``).
    """
    if layout not in LAYOUTS:
        raise ConfigError(f'--from must be one of {LAYOUTS}, got {layout!r}')
    found = detect_layout(state_dict)
    if found == 'hrnet_mm':
        raise ConfigError('the checkpoint is already in the hrnet_mm layout (backbone.*, neck.incre_modules... or '
                          'head.conv_layers / head.final_layer): nothing to convert')
    if found is None:
        raise ConfigError(f'the checkpoint has no HRNet-C classification head and no face landmark head '
                          f'({len(state_dict)} keys, e.g. {list(state_dict)[:3]}); for a backbone alone use '
                          'init_cfg=Pretrained')
    source = SOURCE_LAYOUTS[found]
    if layout not in source.sources:
        raise ConfigError(f'the checkpoint has the {found} layout ({source.task}), not {layout}: use --from '
                          f"{' or '.join(source.sources)}")
    return source


def convert_state_dict(state_dict: Mapping[str, Tensor], layout: str) -> StateDict:
    """Convert from ``layout`` (one of :data:`LAYOUTS`), after checking that the keys are of that layout.

    Raises:
        ConfigError: Unknown layout, or the keys are of another layout (the message names it).
    """
    return source_layout(state_dict, layout).convert(state_dict)


def read_checkpoint(path: str) -> StateDict:
    """Tensors of a local ``.pth`` or ``.safetensors`` file (timm's hub format), through the checked loader."""
    from hrnet_mm.checkpoint import load_local_checkpoint
    return unwrap_state_dict(load_local_checkpoint(path, map_location='cpu'), str(path))


def convert_checkpoint(src: str, dst: str, layout: str, config: Optional[str] = None) -> StateDict:
    """Read ``src``, convert from ``layout``, optionally check it loads into ``config``'s model, save to ``dst``.

    ``dst`` holds ``{'meta': {...}, 'state_dict': ...}`` of plain tensors (loads with
    ``torch.load(weights_only=True)``, ``load_from=`` and ``hrnet-mm test``); a ``dst`` ending in
    ``.safetensors`` is written in that format (no pickle; the meta as JSON text in its metadata).

    Returns:
        The converted state dict.
    """
    source_dict = read_checkpoint(src)
    source = source_layout(source_dict, layout)
    state_dict = source.convert(source_dict)
    if config is not None:
        cfg = load_config(config)
        library = library_of(cfg).name
        if library != source.library:
            raise ConfigError(f'--config {config} is an {library} config; converted {source.task} weights load into '
                              f'{source.library} configs ({source.configs}/...)')
        load_strictly(build_model(cfg)[0], state_dict)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    meta = {'converted_from': layout, 'source': Path(src).name}
    tmp = temporary_file(dst)
    try:
        if str(dst).endswith('.safetensors'):
            save_safetensors(tmp, state_dict, {'format': 'pt', META_KEY: meta_as_text(meta)})
        else:
            torch.save({'meta': meta, 'state_dict': state_dict}, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return state_dict
