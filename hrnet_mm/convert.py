"""Checkpoint converters: HRNet-C classification weights of other code bases -> our mmpretrain classifier.

Our classifier (``configs/hrnet_cls``) is mmpretrain's ``ImageClassifier`` with ``backbone`` =
:class:`~hrnet_mm.models.HRNet`, ``neck`` = :class:`~hrnet_mm.models.necks.HRNetClsNeck` and
``head`` = mmpretrain's ``LinearClsHead`` (``head.fc``). Source layouts:

``timm`` / ``msra``
    timm's ``hrnet_w*`` models and the official MSRA HRNet-Image-Classification checkpoints share
    one layout: backbone keys at the top level (``conv1``, ``layer1``, ``transition1``,
    ``stage2``, ...), then ``incre_modules``, ``downsamp_modules``, ``final_layer`` and
    ``classifier``. Backbone and head keys only gain the prefixes ``backbone.`` / ``neck.``;
    ``classifier`` becomes ``head.fc``.
``mmpretrain``
    mmpretrain's HRNet classifiers: ``backbone.*`` (already our keys), the ``HRFuseScales`` neck
    at ``neck.0.increase_layers`` / ``downsample_layers`` / ``final_layer`` (conv + bn
    submodules, convs without bias) and ``head.fc``. The missing conv biases become zeros, which
    computes the same function.

Every converted BN layer carries ``num_batches_tracked`` (files from old PyTorch versions lack
it), so the result loads with ``strict=True``.
"""
import os
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

import torch
from torch import Tensor

from hrnet_mm.apis.build import build_model, load_config
from hrnet_mm.apis.libraries import library_of
from hrnet_mm.checkpoint.backbone import load_strictly, unwrap_state_dict
from hrnet_mm.checkpoint.safetensors_file import META_KEY, meta_as_text, save_safetensors
from hrnet_mm.checkpoint.saving import temporary_file
from hrnet_mm.errors import ConfigError

StateDict = Dict[str, Tensor]
LAYOUTS = ('timm', 'msra', 'mmpretrain')
BACKBONE_ROOTS = ('conv1', 'bn1', 'conv2', 'bn2', 'layer1', 'transition1', 'transition2', 'transition3',
                  'stage2', 'stage3', 'stage4')
NECK_ROOTS = ('incre_modules', 'downsamp_modules', 'final_layer')


def detect_layout(state_dict: Mapping[str, Any]) -> Optional[str]:
    """'timm' (also the MSRA layout), 'mmpretrain', 'hrnet_mm' (already ours) or None, from the head's keys.

    Example:
        >>> detect_layout({'neck.0.increase_layers.0.0.conv1.weight': torch.zeros(1)})
        'mmpretrain'
    """
    keys = list(state_dict)
    if any(k.startswith('neck.incre_modules.') for k in keys):
        return 'hrnet_mm'
    if any(k.startswith('neck.0.increase_layers.') for k in keys):
        return 'mmpretrain'
    if any(k.split('.')[0] in NECK_ROOTS + ('classifier',) for k in keys):
        return 'timm'
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


def _reject_unknown(unknown: List[str], layout: str) -> None:
    if unknown:
        found = detect_layout(dict.fromkeys(unknown))
        hint = f'; it looks like the {found} layout' if found and found != layout else ''
        raise ConfigError(f'{len(unknown)} keys are no part of the {layout} HRNet-C layout, e.g. {unknown[:4]}{hint}')


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


convert_msra = convert_timm  # the official files and timm's models share the layout


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


CONVERTERS: Dict[str, Callable[[Mapping[str, Tensor]], StateDict]] = {
    'timm': convert_timm, 'msra': convert_msra, 'mmpretrain': convert_mmpretrain}


def convert_state_dict(state_dict: Mapping[str, Tensor], layout: str) -> StateDict:
    """Convert from ``layout`` (one of :data:`LAYOUTS`), after checking that the keys are of that layout.

    Raises:
        ConfigError: Unknown layout, or the keys are of another layout (the message names it).
    """
    if layout not in CONVERTERS:
        raise ConfigError(f'--from must be one of {LAYOUTS}, got {layout!r}')
    found = detect_layout(state_dict)
    expected = 'timm' if layout == 'msra' else layout
    if found == 'hrnet_mm':
        raise ConfigError('the checkpoint is already in the hrnet_mm layout (neck.incre_modules...): '
                          'nothing to convert')
    if found is not None and found != expected:
        other = 'timm or msra' if found == 'timm' else found
        raise ConfigError(f'the checkpoint has the {found} layout, not {layout}: use --from {other}')
    if found is None:
        raise ConfigError(f'the checkpoint has no HRNet-C classification head ({len(state_dict)} keys, e.g. '
                          f'{list(state_dict)[:3]}); for a backbone alone use init_cfg=Pretrained')
    return CONVERTERS[layout](state_dict)


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
    state_dict = convert_state_dict(read_checkpoint(src), layout)
    if config is not None:
        cfg = load_config(config)
        library = library_of(cfg).name
        if library != 'mmpretrain':
            raise ConfigError(f'--config {config} is an {library} config; converted HRNet-C weights load into '
                              'mmpretrain configs (hrnet_cls/...)')
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
