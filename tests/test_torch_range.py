"""The supported torch range (docs/install.md, "Supported stacks"): an older torch is refused in one line,
and where torch's API changed within the range the package asks torch what it has, not its version."""
import subprocess
import sys

import pytest
import torch

from hrnet_mm.apis.export import exporter_choice
from hrnet_mm.cuda_graph import _autocast_state
from hrnet_mm.environment import MIN_TORCH
from hrnet_mm.errors import SetupError


def test_a_torch_below_the_range_is_refused_in_one_line_when_hrnet_mm_activates():
    # torch is imported first, so importing hrnet_mm activates it there and then.
    script = ('import torch\n'
              "torch.__version__ = '2.0.1+cu118'\n"
              'try:\n'
              '    import hrnet_mm\n'
              'except Exception as err:\n'
              '    print(type(err).__name__, err)\n')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=300).stdout
    floor = '.'.join(map(str, MIN_TORCH))
    assert out.strip().splitlines() == [
        f"SetupError hrnet_mm needs torch >= {floor}, found 2.0.1+cu118; install a newer one: "
        f"pip install 'torch>={floor}' torchvision  (the build for your CUDA or CPU)"]


def test_the_installed_torch_is_within_the_range():
    major, minor = (int(part) for part in torch.__version__.split('.')[:2])
    assert (major, minor) >= MIN_TORCH


def _export_with_dynamo(model, args, f, opset_version=None, dynamo=False):
    """The signature of ``torch.onnx.export`` from torch 2.5 on (abridged)."""


def _export_before_dynamo(model, args, f, opset_version=None):
    """The signature of ``torch.onnx.export`` in torch 2.1 (abridged)."""


def test_export_names_its_exporter_only_to_a_torch_that_has_the_choice():
    assert exporter_choice(False, _export_with_dynamo) == {'dynamo': False}
    assert exporter_choice(True, _export_with_dynamo) == {'dynamo': True}
    assert exporter_choice(False, _export_before_dynamo) == {}  # its only exporter is TorchScript's
    with pytest.raises(SetupError, match='has no dynamo ONNX exporter'):
        exporter_choice(True, _export_before_dynamo)


class _AutocastAfter24:
    """torch >= 2.4: the device type is an argument."""

    def __init__(self, enabled):
        self.enabled = enabled

    def is_autocast_enabled(self, device_type):
        assert device_type == 'cuda'
        return self.enabled

    def get_autocast_dtype(self, device_type):
        assert device_type == 'cuda'
        return torch.bfloat16


class _AutocastBefore24:
    """torch 2.1-2.3: the argument-less functions answer for CUDA."""

    def __init__(self, enabled):
        self.enabled = enabled

    def is_autocast_enabled(self):
        return self.enabled

    def get_autocast_gpu_dtype(self):
        return torch.bfloat16


@pytest.mark.parametrize('api', [_AutocastAfter24, _AutocastBefore24], ids=['torch>=2.4', 'torch<2.4'])
def test_the_cuda_graph_reads_cuda_autocast_through_either_api(api):
    assert _autocast_state(api(True)) == (True, torch.bfloat16)
    assert _autocast_state(api(False)) == (False, None)


def test_the_installed_torch_answers_the_autocast_question():
    assert _autocast_state() == (False, None)  # no autocast block is open here
