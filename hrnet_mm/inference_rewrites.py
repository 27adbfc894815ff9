"""Inference-time rewrites: fold BatchNorm into the preceding conv, switch to channels-last memory.

Typical use on a loaded model (weights load *before* folding; the folded state dict has no BN keys):

    >>> from hrnet_mm.inference_rewrites import count_batchnorms, switch_to_deploy, to_channels_last
    >>> from hrnet_mm.models import HRNet
    >>> model = HRNet(arch='w18-small-v1')      # load its weights here
    >>> x = torch.rand(1, 3, 64, 64)
    >>> expected = model.eval()(x)
    >>> model = switch_to_deploy(model)          # eval mode, every conv -> BN pair folded
    >>> count_batchnorms(model)
    0
    >>> model = to_channels_last(model)          # optional; feed ``x.to(memory_format=torch.channels_last)``
    >>> all(torch.allclose(a, b, atol=1e-4) for a, b in zip(model(x), expected))
    True
"""
import re
from typing import Iterator, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils.fusion import fuse_conv_bn_weights

# Children ``conv<k>`` / ``bn<k>`` (or ``norm<k>``) of one module: our residual units, the HRNet stem,
# mmcv/mmseg/mmpose/mmdet residual blocks and timm's all apply bn<k> right after conv<k>.
_CONV_NAME = re.compile(r'^conv(\d*)$')


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    if not (isinstance(conv, _ConvNd) and isinstance(bn, _BatchNorm)):
        return False
    if not bn.track_running_stats or bn.running_mean is None:  # batch statistics only: nothing to fold
        return False
    if conv.transposed and conv.groups != 1:  # torch's fold scales dim 1, one group's outputs only
        return False
    return conv.out_channels == bn.num_features


def _sequential_pairs(module: nn.Module) -> Iterator[Tuple[str, str]]:
    """Adjacent (conv, BN) children of an ``nn.Sequential`` (including subclasses that run in order)."""
    names = list(module._modules)
    for first, second in zip(names, names[1:]):
        yield first, second


def _named_pairs(module: nn.Module) -> Iterator[Tuple[str, str]]:
    """``conv<k>`` -> ``bn<k>`` / ``norm<k>`` children, and an mmcv ``ConvModule``'s conv -> norm."""
    children = module._modules
    norm_name = getattr(module, 'norm_name', None)  # mmcv ConvModule: 'bn', 'gn', ...
    order = getattr(module, 'order', None)
    if isinstance(norm_name, str) and isinstance(order, tuple) and 'conv' in children:
        conv_at = order.index('conv') if 'conv' in order else -1
        if 0 <= conv_at < len(order) - 1 and order[conv_at + 1] == 'norm':
            yield 'conv', norm_name
        return
    for name in children:
        match = _CONV_NAME.match(name)
        if match is None:
            continue
        for norm in (f'bn{match.group(1)}', f'norm{match.group(1)}'):
            if norm in children:
                yield name, norm
                break


@torch.no_grad()
def fold_bn_into_conv(conv: _ConvNd, bn: _BatchNorm) -> None:
    """Fold ``bn``'s eval-mode affine map into ``conv`` in place (``conv`` gains a bias).

    ``bn(conv(x)) == conv'(x)`` with ``W' = W * s`` and ``b' = (b - mean) * s + beta`` per output
    channel, ``s = gamma / sqrt(var + eps)``: torch's ``fuse_conv_bn_weights``, fed float64 copies so
    the folded weights are rounded once, into the conv's dtype.

    Args:
        conv: A ``Conv1d/2d/3d`` (or a single-group ``ConvTranspose``) with ``out_channels == bn.num_features``.
        bn: A BatchNorm with running statistics.
    """
    def f64(t: Optional[Tensor]) -> Optional[Tensor]:
        return None if t is None else t.detach().double()

    assert bn.running_mean is not None and bn.running_var is not None
    dtype, requires_grad = conv.weight.dtype, conv.weight.requires_grad
    weight, bias = fuse_conv_bn_weights(conv.weight.detach().double(), f64(conv.bias),
                                        bn.running_mean.double(), bn.running_var.double(), bn.eps,
                                        f64(bn.weight), f64(bn.bias), transpose=conv.transposed)
    # New Parameters (not in-place writes): tensors shared with a loaded state dict stay untouched.
    conv.weight = nn.Parameter(weight.detach().to(dtype), requires_grad=requires_grad)
    conv.bias = nn.Parameter(bias.detach().to(dtype), requires_grad=requires_grad)


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm that directly follows a conv into that conv, in place.

    A pair is a conv followed by a BN as adjacent children of an ``nn.Sequential`` (HRNet transitions,
    fusion paths, residual shortcuts ``downsample.0/.1``), as children ``conv<k>`` / ``bn<k>`` of one
    module (residual units, the HRNet stem, timm and OpenMMLab residual blocks), or as the conv and
    norm of an mmcv ``ConvModule`` ordered conv -> norm. The conv gets the folded weight and a bias;
    the BN becomes ``nn.Identity``. Folding uses the running statistics, so the result equals the
    model in **eval** mode (training-mode batch statistics are gone); load weights before folding.
    BNs without running statistics, and any BN not found in such a pair, are left as they are.

    Args:
        model: Any module tree, e.g. :class:`~hrnet_mm.models.HRNet` or an mmseg ``EncoderDecoder``.

    Returns:
        nn.Module: ``model`` itself (modified in place).
    """
    # Not mmcv's fuse_conv_bn: it folds each BN into the conv *registered* before it among a module's
    # children, which is not always the conv that runs before it (a ConvModule ordered norm -> conv
    # registers conv first); the pairs here are found by how each module runs. The arithmetic is torch's.
    pairs: List[Tuple[nn.Module, str, str]] = []
    for parent in model.modules():
        finder = _sequential_pairs if isinstance(parent, nn.Sequential) else _named_pairs
        for conv_name, bn_name in finder(parent):
            conv, bn = parent._modules[conv_name], parent._modules[bn_name]
            if conv is not None and bn is not None and _foldable(conv, bn):
                pairs.append((parent, conv_name, bn_name))
    # Collected first, rewritten after: no module tree changes while it is being walked.
    for parent, conv_name, bn_name in pairs:
        conv, bn = parent._modules[conv_name], parent._modules[bn_name]
        assert isinstance(conv, _ConvNd) and isinstance(bn, _BatchNorm)
        fold_bn_into_conv(conv, bn)
        parent._modules[bn_name] = nn.Identity()
        if getattr(parent, 'efficient_conv_bn_eval_forward', None) is not None:
            # mmcv's conv+BN fast path needs a real BN
            parent.efficient_conv_bn_eval_forward = None  # type: ignore[assignment]
    return model


def count_batchnorms(model: nn.Module) -> int:
    """Number of BatchNorm layers left in ``model`` (0 after a complete :func:`fuse_conv_bn`)."""
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


def switch_to_deploy(model: nn.Module) -> nn.Module:
    """Eval mode plus :func:`fuse_conv_bn`: the inference form of a trained model, in place.

    Equal outputs to ``model.eval()`` up to float rounding, fewer kernels per forward. Training the
    result is not meaningful (no BN left), so call it on a model whose weights are already loaded.

    Returns:
        nn.Module: ``model`` itself, in eval mode.
    """
    model.eval()
    return fuse_conv_bn(model)


def to_channels_last(model: nn.Module) -> nn.Module:
    """Store every 4-D parameter and buffer channels-last (NHWC), in place.

    Convolutions then run in NHWC without layout conversions when the input is channels-last too
    (``x.to(memory_format=torch.channels_last)``); outputs are channels-last tensors with the same
    values and shapes. Only for models whose every op reads strides: mmcv's CPU ``roi_align``
    (two-stage detectors) assumes NCHW memory and returns wrong values. The ``hrnet_mm.HRNet``
    that configs build already stores its weights channels-last and hands NCHW out
    (:func:`hrnet_mm.models.dropin.build_hrnet`).

    Returns:
        nn.Module: ``model`` itself.
    """
    return model.to(memory_format=torch.channels_last)
