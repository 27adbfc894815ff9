"""CUDA-graph replay of a module's forward and backward, so that HRNet's many small kernels launch as one.

HRNet runs four branches of small convolutions one kernel at a time; on a fast GPU the CPU cannot
launch them as fast as they finish. :func:`graph_cuda_forward` gives a module a forward that
records its own (and, when gradients are needed, its backward) once per input signature and
replays the recordings (:class:`CudaGraphRunner`). It sits outside the network: the network's
class is unchanged, and configs reach it through ``hrnet_mm.HRNet(cuda_graph=...)``
(:mod:`hrnet_mm.models.dropin`).

What makes a replay correct:

- One recording per *signature*: input shape, dtype and device; training mode of the module and
  of every norm layer (``norm_eval``, ``frozen_stages``); ``requires_grad`` of every parameter;
  grad mode; autocast state. A signature is recorded on its ``min_calls``-th use, at most
  ``max_graphs`` signatures in all; the rest run eagerly, so inputs whose shape changes every step
  cost no more than eager execution plus at most ``max_graphs`` recordings.
- Warm-up and recording leave no trace: the norm layers' running statistics are restored after.
- Outputs and gradients are copied out of the recording's memory, so the next replay cannot
  overwrite what the caller holds. A forward whose backward is still pending (its autograd node
  alive, no backward yet) makes the next forward of the same signature run eagerly: the recorded
  backward reads the recorded activations, which a replay would overwrite. The node, not the output
  tensors, tells: a caller may keep only tensors computed from them (a hook's contiguous copies).
- A module whose parameters are replaced (``switch_to_deploy``, ``.to()``) changes the signature.

Why not ``torch.cuda.make_graphed_callables`` as it is: it records one fixed signature (no eager
fall-back for new shapes or a pending backward), refuses to record inside autocast with its weight
cache on (as in mmengine's ``AmpOptimWrapper``) or for a module with hooks, and its warm-up moves
the norm statistics.
"""
import weakref
from collections import OrderedDict
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn.modules.batchnorm import _NormBase

from hrnet_mm.errors import ConfigError, is_int

Body = Callable[[Tensor], Sequence[Tensor]]
SETTINGS = ('max_graphs', 'min_calls', 'warmup')


def check_settings(max_graphs: int = 3, min_calls: int = 2, warmup: int = 2) -> Dict[str, int]:
    """The runner's settings, checked: ``max_graphs`` and ``min_calls`` ints >= 1, ``warmup`` >= 0."""
    settings = dict(max_graphs=max_graphs, min_calls=min_calls, warmup=warmup)
    for name, value in settings.items():
        least = 0 if name == 'warmup' else 1
        if not is_int(value) or value < least:
            raise ConfigError(f'cuda_graph {name} must be an int >= {least}, got {value!r}')
    return settings


def cuda_graph_settings(cuda_graph: Union[bool, dict]) -> Optional[Dict[str, int]]:
    """A config's ``cuda_graph`` (False, True or a dict of :data:`SETTINGS`) as checked settings, or None.

    Example:
        >>> cuda_graph_settings(dict(max_graphs=4))
        {'max_graphs': 4, 'min_calls': 2, 'warmup': 2}
    """
    if isinstance(cuda_graph, bool):
        return check_settings() if cuda_graph else None
    if not isinstance(cuda_graph, dict):
        raise ConfigError(f'cuda_graph must be a bool or a dict of max_graphs / min_calls / warmup, got {cuda_graph!r}')
    unknown = sorted(set(cuda_graph) - set(SETTINGS))
    if unknown:
        raise ConfigError(f'cuda_graph takes max_graphs, min_calls and warmup, got {unknown}')
    return check_settings(**cuda_graph)


def _autocast_state(api: Any = torch) -> Tuple[bool, Optional[torch.dtype]]:
    """Whether CUDA autocast is on, and its dtype when it is (part of a recording's signature).

    Args:
        api: The ``torch`` module (a stand-in in tests).
    """
    # The device-type forms came with get_autocast_dtype (torch 2.4); before, the argument-less
    # is_autocast_enabled() and get_autocast_gpu_dtype() are CUDA's.
    if hasattr(api, 'get_autocast_dtype'):
        enabled = api.is_autocast_enabled('cuda')
        return enabled, api.get_autocast_dtype('cuda') if enabled else None
    enabled = api.is_autocast_enabled()
    return enabled, api.get_autocast_gpu_dtype() if enabled else None


class _Recording:
    """Static input, outputs and gradients of one signature, and its two CUDA graphs."""

    def __init__(self) -> None:
        self.static_x: Tensor
        self.static_outs: Tuple[Tensor, ...] = ()
        self.fwd = torch.cuda.CUDAGraph()
        self.bwd: Optional[torch.cuda.CUDAGraph] = None
        self.grad_params: List[nn.Parameter] = []
        self.static_grad_outs: Tuple[Tensor, ...] = ()
        self.static_grads: Tuple[Optional[Tensor], ...] = ()
        self.static_x_grad: Optional[Tensor] = None
        self.node: Optional[weakref.ref] = None  # autograd node of the last training replay
        self.backward_done = True

    def backward_pending(self) -> bool:
        """Whether the last training replay's backward may still come: it has not run, and its autograd
        node lives (some graph a caller holds still leads to it)."""
        return not self.backward_done and self.node is not None and self.node() is not None


class CudaGraphRunner:
    """Runs ``body(x)`` through CUDA-graph recordings of ``module``, eagerly where recording does not pay.

    Args:
        module: The module whose parameters and buffers ``body`` uses.
        body: ``x -> sequence of tensors`` (the module's computation; one tensor input).
        max_graphs: Most signatures recorded over the runner's life. Default: 3.
        min_calls: Uses of a signature before it is recorded (one-off shapes stay eager). Default: 2.
        warmup: Eager iterations before recording (cuDNN autotuning, lazy init). Default: 2.

    Example:
        >>> runner = CudaGraphRunner(nn.Conv2d(3, 4, 3), body=lambda x: [x])
        >>> runner.stats
        {'replays': 0, 'eager': 0, 'recordings': 0}
    """

    def __init__(self, module: nn.Module, body: Body, max_graphs: int = 3, min_calls: int = 2, warmup: int = 2):
        check_settings(max_graphs, min_calls, warmup)
        self.module, self.body = module, body
        self.max_graphs, self.min_calls, self.warmup = max_graphs, min_calls, warmup
        self.recordings: 'OrderedDict[tuple, _Recording]' = OrderedDict()
        self.calls: Dict[tuple, int] = {}
        self.stats = {'replays': 0, 'eager': 0, 'recordings': 0}

    def signature(self, x: Tensor) -> tuple:
        params = tuple((id(p), p.requires_grad) for p in self.module.parameters())
        norms = tuple(m.training for m in self.module.modules() if isinstance(m, (_NormBase, nn.GroupNorm)))
        return (tuple(x.shape), x.dtype, x.device, x.requires_grad, self.module.training, torch.is_grad_enabled(),
                _autocast_state(), params, norms)

    def __call__(self, x: Tensor) -> Tuple[Tensor, ...]:
        if not x.is_cuda:
            return tuple(self.body(x))
        key = self.signature(x)
        rec = self.recordings.get(key)
        if rec is None:
            self.calls[key] = self.calls.get(key, 0) + 1
            if self.calls[key] < self.min_calls or self.stats['recordings'] >= self.max_graphs:
                self.stats['eager'] += 1
                return tuple(self.body(x))
            rec = self._record(x)
            self.recordings[key] = rec
            self.calls.pop(key, None)
        if rec.backward_pending():
            self.stats['eager'] += 1
            return tuple(self.body(x))
        self.stats['replays'] += 1
        return self._replay(rec, x)

    # ----------------------------------------------------------------- recording
    def _buffers(self) -> List[Tensor]:
        return list(self.module.buffers())

    def _record(self, x: Tensor) -> _Recording:
        rec = _Recording()
        saved = [b.clone() for b in self._buffers()]  # warm-up must not move the running statistics
        rec.static_x = x.detach().clone().requires_grad_(x.requires_grad)
        grad = torch.is_grad_enabled()
        rec.grad_params = [p for p in self.module.parameters() if p.requires_grad] if grad else []
        inputs = ([rec.static_x] if x.requires_grad else []) + rec.grad_params
        enabled, dtype = _autocast_state()
        # Autocast's weight-cast cache would keep tensors made during recording; the replay needs none.
        autocast = torch.autocast('cuda', dtype=dtype or torch.float16, enabled=enabled, cache_enabled=False)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream), autocast:
            for _ in range(self.warmup):
                outs = tuple(self.body(rec.static_x))
                if grad and inputs:
                    torch.autograd.grad([o for o in outs if o.requires_grad], inputs,
                                        [torch.ones_like(o) for o in outs if o.requires_grad], allow_unused=True)
        torch.cuda.current_stream().wait_stream(stream)
        with autocast:
            with torch.cuda.graph(rec.fwd):
                rec.static_outs = tuple(self.body(rec.static_x))
            if grad and inputs and any(o.requires_grad for o in rec.static_outs):
                rec.bwd = torch.cuda.CUDAGraph()
                rec.static_grad_outs = tuple(torch.zeros_like(o) for o in rec.static_outs)
                needed = [(o, g) for o, g in zip(rec.static_outs, rec.static_grad_outs) if o.requires_grad]
                with torch.cuda.graph(rec.bwd, pool=rec.fwd.pool()):
                    grads = torch.autograd.grad([o for o, _ in needed], inputs, [g for _, g in needed],
                                                allow_unused=True)
                rec.static_grads = tuple(grads[1:] if x.requires_grad else grads)
                rec.static_x_grad = grads[0] if x.requires_grad else None
        with torch.no_grad():
            for buffer, value in zip(self._buffers(), saved):
                buffer.copy_(value)
        self.stats['recordings'] += 1
        return rec

    def _replay(self, rec: _Recording, x: Tensor) -> Tuple[Tensor, ...]:
        if rec.bwd is None:  # inference, or nothing to differentiate
            rec.static_x.copy_(x)
            rec.fwd.replay()
            return tuple(o.clone() for o in rec.static_outs)
        params = list(self.module.parameters())
        outs = _GraphedBody.apply(rec, params, x, *params)
        rec.backward_done = False
        return outs


class _GraphedBody(torch.autograd.Function):
    """Autograd node of one training replay; gradients of the input (if it needs them) and parameters."""

    @staticmethod
    def forward(ctx: Any, rec: _Recording, params_order: List[Tensor], x: Tensor, *params: Tensor):
        rec.static_x.copy_(x)
        rec.fwd.replay()
        ctx.rec, ctx.params_order = rec, params_order
        rec.node = weakref.ref(ctx)  # ctx is this replay's node in the autograd graph
        return tuple(o.detach().clone() for o in rec.static_outs)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, *grads: Optional[Tensor]):
        rec: _Recording = ctx.rec
        for static, grad in zip(rec.static_grad_outs, grads):
            if grad is None:
                static.zero_()
            else:
                static.copy_(grad)
        assert rec.bwd is not None
        rec.bwd.replay()
        rec.backward_done = True
        by_param = {id(p): g for p, g in zip(rec.grad_params, rec.static_grads)}
        param_grads = [None if by_param.get(id(p)) is None else by_param[id(p)].clone() for p in ctx.params_order]
        x_grad = rec.static_x_grad.clone() if rec.static_x_grad is not None else None
        return (None, None, x_grad, *param_grads)


class GraphedForward:
    """A module's ``forward`` that goes through a :class:`CudaGraphRunner` of its class's forward.

    CPU inputs call the class's forward directly. The runner is made on the first CUDA input; copies
    and pickles of the module leave it behind (recordings hold CUDA graphs of this module's memory)
    and make their own.
    """

    def __init__(self, module: nn.Module, settings: Dict[str, int]):
        self.module, self.settings = module, settings
        self.runner: Optional[CudaGraphRunner] = None

    def __call__(self, x: Tensor) -> Tuple[Tensor, ...]:
        if not x.is_cuda:  # no runner for CPU inputs
            return tuple(type(self.module).forward(self.module, x))
        if self.runner is None:
            self.runner = CudaGraphRunner(self.module, partial(type(self.module).forward, self.module), **self.settings)
        return self.runner(x)

    def __getstate__(self) -> dict:
        return dict(module=self.module, settings=self.settings, runner=None)


def graph_cuda_forward(module: nn.Module, **settings: int) -> nn.Module:
    """Give ``module`` (one tensor in, a sequence of tensors out) a forward that replays CUDA graphs.

    Args:
        module: The module; it must not recompute its forward in backward (``with_cp``).
        **settings: ``max_graphs``, ``min_calls``, ``warmup`` of :class:`CudaGraphRunner`.

    Returns:
        ``module`` itself: its instance ``forward`` is a :class:`GraphedForward` (as
        ``torch.cuda.make_graphed_callables`` does); its class, parameters and keys are unchanged.

    Example:
        >>> from hrnet_mm.models import HRNet
        >>> model = graph_cuda_forward(HRNet(arch='w18-small-v1'), max_graphs=2)
        >>> len(model(torch.rand(1, 3, 64, 64))), graph_runner(model)  # CPU input: eager, no runner
        (4, None)
    """
    checked = check_settings(**settings)
    if getattr(module, 'with_cp', False):
        raise ConfigError('cuda_graph and with_cp exclude each other: activation checkpointing recomputes '
                          'the forward inside backward, which a recording cannot replay')
    module.forward = GraphedForward(module, checked)
    return module


def graph_runner(module: nn.Module) -> Optional[CudaGraphRunner]:
    """The runner behind ``module``'s graphed forward (its ``stats``), or None before a CUDA input or
    for a module without one."""
    forward = module.__dict__.get('forward')
    return forward.runner if isinstance(forward, GraphedForward) else None
