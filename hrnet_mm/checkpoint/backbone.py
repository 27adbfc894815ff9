"""State dicts: the tensors of a checkpoint, and how they fit a model (one report, strict or tolerant).

:func:`load_backbone_checkpoint` loads into an HRNet backbone, strict about shapes and tolerant of
extra heads; :func:`load_strictly` loads a whole model, nothing missing or extra.
"""
import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, NamedTuple, Optional

import torch
from mmengine.logging import print_log
from torch import nn

from hrnet_mm.errors import CheckpointError, ConfigError


def unwrap_state_dict(checkpoint: Mapping[Any, Any], name: str = 'the checkpoint') -> Dict[str, torch.Tensor]:
    """The tensors of a checkpoint: unwraps ``state_dict`` / ``model`` / ``module`` and a ``module.`` prefix.

    Args:
        checkpoint: A loaded checkpoint (a dict).
        name: The file, for messages.

    Raises:
        CheckpointError: A tensor is keyed by something other than a name.

    Example:
        >>> list(unwrap_state_dict({'state_dict': {'module.conv1.weight': torch.zeros(1)}, 'meta': {}}))
        ['conv1.weight']
    """
    # The loader hands back plain dicts; read them through dict's own methods all the same.
    read: Any = dict if isinstance(checkpoint, dict) else type(checkpoint)
    for key in ('state_dict', 'model', 'module'):
        if isinstance(read.get(checkpoint, key), Mapping):
            checkpoint = read.get(checkpoint, key)
            read = dict if isinstance(checkpoint, dict) else type(checkpoint)
            break
    tensors = [(k, v) for k, v in read.items(checkpoint) if isinstance(v, torch.Tensor)]
    unnamed = [k for k, _ in tensors if type(k) is not str]
    if unnamed:
        raise CheckpointError(f'{name}: {len(unnamed)} tensors of its state dict are keyed by '
                              f'{type(unnamed[0]).__name__}s, not parameter names (e.g. {str(unnamed[0])[:40]})')
    return OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in tensors)


class Fit(NamedTuple):
    """How a state dict fits a model's: keys it lacks, keys the model lacks, and shape mismatches."""

    missing: List[str]
    unexpected: List[str]
    mismatched: List[str]


def fit(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], strict: bool = False) -> Fit:
    """Compare ``state`` with a model's own state dict; unless ``strict``, ``num_batches_tracked`` may be absent."""
    return Fit(missing=[k for k in own if k not in state and (strict or not k.endswith('num_batches_tracked'))],
               unexpected=[k for k in state if k not in own],
               mismatched=[f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
                           for k, v in state.items() if k in own and own[k].shape != v.shape])


def load_strictly(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with one-line errors (missing, extra, shapes).

    Raises:
        ConfigError: The checkpoint does not fit the model, naming the first offending keys.
    """
    report = fit(model.state_dict(), state_dict, strict=True)
    if any(report):
        raise ConfigError(f'checkpoint does not fit the model: {len(report.missing)} missing, '
                          f'{len(report.unexpected)} unexpected, {len(report.mismatched)} shape mismatches, '
                          f'e.g. {(report.missing + report.unexpected + report.mismatched)[:3]}')
    model.load_state_dict(state_dict, strict=True)


def _group_of(key: str) -> str:
    """What a checkpoint key belongs to, for logs: ``stage4.0.fuse_layers.1`` or its top-level module."""
    match = re.match(r'.*?fuse_layers\.\d+', key)
    return match.group(0) if match else key.split('.')[0]


def checkpoint_width(state_dict: Dict[str, torch.Tensor]) -> Optional[int]:
    """Width C an HRNet state dict was made for, read from its highest-resolution stage-4 branch."""
    for key, value in state_dict.items():
        if re.fullmatch(r'stage4\.0\.branches\.0\.0\.conv1\.weight', key):
            return int(value.shape[0])
    return None


def load_backbone_checkpoint(model: nn.Module, filename: str, prefix: Optional[str] = None,
                             map_location: str = 'cpu') -> None:
    """Load a checkpoint into an HRNet backbone; strict about shapes, tolerant of extra heads.

    Args:
        model: The backbone.
        filename: Path or URL (``open-mmlab://``, ``http(s)://``, ...) understood by mmengine.
        prefix: Keep only keys starting with ``prefix`` (e.g. ``'backbone.'``) and strip it.
            Default: keys of the backbone are taken as they are.
        map_location: Device to load onto. Default: 'cpu'.

    Raises:
        ValueError: On shape mismatches (naming the keys and the checkpoint's width) or when keys
            of the model are missing from the checkpoint.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    state = unwrap_state_dict(CheckpointLoader.load_checkpoint(filename, map_location=map_location), filename)
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state = OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))
        if not state:
            raise ConfigError(f'no key of {filename} starts with prefix {prefix!r}')
    own = model.state_dict()
    missing, unexpected, mismatched = fit(own, state)
    if mismatched:
        width, ours = checkpoint_width(state), checkpoint_width(own)
        if width != ours:
            made_for = f'HRNet-W{width}' if width else 'another architecture'
            what = f'was made for {made_for}, the model is HRNet-W{ours}'
        elif 'conv1.weight' in state and state['conv1.weight'].shape[1] != own['conv1.weight'].shape[1]:
            what = (f"was made for {state['conv1.weight'].shape[1]}-channel images, the model takes "
                    f"{own['conv1.weight'].shape[1]} (in_channels)")
        else:
            what = f'has other layer shapes than this HRNet-W{ours}'
        raise ConfigError(f'{filename} {what}: {len(mismatched)} shape mismatches, e.g.\n  '
                          + '\n  '.join(mismatched[:8]))
    if missing:
        raise ConfigError(f'{filename} lacks {len(missing)} keys of the model, e.g. {missing[:5]}; '
                         "if the backbone sits under a prefix, set init_cfg=dict(type='Pretrained', "
                         "checkpoint=..., prefix='backbone.')")
    ignored = sorted({_group_of(k) for k in unexpected})
    model.load_state_dict(state, strict=False)
    print_log(f'loaded {filename} into {type(model).__name__}: {len(own) - len(missing)} tensors; '
              f'ignored checkpoint entries under {ignored or "nothing"}', logger='current')
