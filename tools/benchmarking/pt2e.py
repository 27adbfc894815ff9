"""torch's own int8 path, measured by ``tools/deploy_benchmark.py`` next to the ONNX engines.

PT2E: ``torch.export`` the network, annotate it with torchao's ``X86InductorQuantizer`` (int8 weights
per output channel, uint8 activations per tensor: the same scheme as ``hrnet-mm export --int8``),
calibrate, convert, and let ``torch.compile`` (inductor, freezing on) turn the quantize /
dequantize pairs into int8 kernels. Its artefact is a compiled Python object, not a file another
runtime loads, and compiling costs about a minute per input shape on 2 cores; that is why
docs/deploy.md measures it but ``hrnet-mm export`` does not offer it.

Example (the conversion only; compiling is what :func:`compile_int8` adds):
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU()).eval()
    >>> x = torch.randn(1, 3, 16, 16)
    >>> q = quantize_int8(net, x, [x])
    >>> tuple(q(x).shape), int8_conv_fraction(q)
    ((1, 8, 14, 14), 1.0)
"""
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor, nn


def unavailable() -> Optional[str]:
    """Why this path cannot run with the installed stack (torchao missing, or built for another torch), or None.

    torchao follows torch closely: a torchao for a newer torch fails to import on an older one.
    """
    try:
        from torchao.quantization.pt2e import quantize_pt2e  # noqa: F401
    except ImportError as err:
        return f'torchao does not import with torch {torch.__version__}: {err}'
    return None


def quantize_int8(net: nn.Module, example: Tensor, calibration: Sequence[Tensor]) -> torch.fx.GraphModule:
    """Export ``net`` at ``example``'s shape, calibrate it on ``calibration`` and convert it to int8.

    Args:
        net: An eval-mode module, tensor in, tensor(s) out.
        example: An input of the shape the result runs at.
        calibration: Inputs (of ``example``'s shape) whose activation ranges set the int8 scales.

    Returns:
        torch.fx.GraphModule: The converted graph (quantize / dequantize pairs around each int8 op);
        it runs in eager (reference arithmetic) or through :func:`compile_int8`.
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86
    quantizer = x86.X86InductorQuantizer()
    quantizer.set_global(x86.get_default_x86_inductor_quantization_config())
    with torch.no_grad():
        graph = torch.export.export(net, (example,)).module()
        prepared = prepare_pt2e(graph, quantizer)
        for x in calibration:
            prepared(x)
        return convert_pt2e(prepared)


def compile_int8(converted: torch.fx.GraphModule, example: Tensor) -> Callable[[Tensor], object]:
    """Inductor-compile ``converted`` at ``example``'s shape, now (about a minute for HRNet-W18 on 2 cores).

    Freezing (int8 weights as constants, packed once) must be on while compiling; inductor's
    ``options={'freezing': True}`` did not do that here (the weights' packing op failed in its fake
    tensors), its config patched around the first call does.
    """
    import torch._inductor.config as inductor_config
    compiled = torch.compile(converted)
    with inductor_config.patch(freezing=True), torch.no_grad():
        compiled(example)

    def run(x: Tensor) -> object:
        with torch.no_grad():
            return compiled(x)
    return run


def int8_conv_fraction(converted: torch.fx.GraphModule) -> float:
    """Share of the graph's convolutions whose input and weight both come from a dequantize node."""
    def dequantized(arg: object) -> bool:
        return isinstance(arg, torch.fx.Node) and 'dequantize' in str(arg.target)

    convs = [n for n in converted.graph.nodes if n.op == 'call_function' and 'conv2d' in str(n.target)]
    return sum(dequantized(n.args[0]) and dequantized(n.args[1]) for n in convs) / max(len(convs), 1)
