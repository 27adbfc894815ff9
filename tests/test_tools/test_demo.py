"""tools/demo.py names the device the stock tools trained on."""
import importlib.util
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]


def _demo():
    spec = importlib.util.spec_from_file_location('hrnet_demo', REPO / 'tools' / 'demo.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_names_the_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert _demo().device_name().startswith('CPU (')


def test_demo_names_the_gpu_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda index=0: 'NVIDIA H100 80GB HBM3')
    assert _demo().device_name() == 'GPU (NVIDIA H100 80GB HBM3)'


def test_every_demo_task_has_its_config_and_generator():
    demo = _demo()
    assert set(demo.TASKS) == {'seg', 'pose', 'det', 'cls', 'face'}
    for task in demo.TASKS.values():
        assert (REPO / task['config']).is_file() and callable(task['data'])
