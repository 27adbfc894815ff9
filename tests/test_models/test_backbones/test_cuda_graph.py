"""CUDA-graph replay (``hrnet_mm.HRNet(cuda_graph=True)``): eager results, bounded recordings, eager on CPU."""
import copy
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from hrnet_mm import cuda_graph
from hrnet_mm.cuda_graph import (
    CudaGraphRunner,
    GraphedForward,
    _Recording,
    cuda_graph_settings,
    graph_cuda_forward,
    graph_runner,
)
from hrnet_mm.errors import ConfigError
from hrnet_mm.models import HRNet
from hrnet_mm.models.dropin import build_hrnet
from hrnet_mm.testing.twins import randomize_norms

REPO = Path(__file__).resolve().parents[3]


def _pair(**kwargs):
    """The network as configs build it, eager and graphed, with the same weights and statistics."""
    torch.manual_seed(0)
    eager = build_hrnet(arch='w18-small-v1', **kwargs)
    randomize_norms(eager)
    graphed = graph_cuda_forward(copy.deepcopy(eager), min_calls=1, max_graphs=2, warmup=1)
    return eager, graphed


def test_the_network_class_is_untouched():
    _, graphed = _pair()
    assert type(graphed) is HRNet and 'forward' not in vars(HRNet(arch='w18-small-v1'))
    assert list(graphed.state_dict()) == list(HRNet(arch='w18-small-v1').state_dict())


def test_cpu_inputs_run_eagerly_with_the_same_results():
    eager, graphed = _pair()
    x = torch.rand(2, 3, 64, 64)
    for a, b in zip(eager.train()(x), graphed.train()(x)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert graph_runner(graphed) is None  # no runner is made for CPU inputs


class _FakeCudaInput:
    """Stands for a CUDA tensor where there is none: the graphed forward only asks ``is_cuda``."""
    is_cuda = True

    def __init__(self, tensor):
        self.tensor = tensor


class _RecordingRunner:
    """Stands for :class:`CudaGraphRunner`: records how the graphed forward made and called it."""

    def __init__(self, module, body, **settings):
        self.module, self.body, self.settings, self.calls = module, body, settings, 0
        self.stats = {'replays': 0}

    def __call__(self, x):
        self.calls += 1
        return tuple(self.body(x.tensor))


def test_cuda_inputs_go_through_one_runner_of_the_class_forward(monkeypatch):
    monkeypatch.setattr(cuda_graph, 'CudaGraphRunner', _RecordingRunner)
    eager, graphed = (m.eval() for m in _pair())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for _ in range(2):
            outs = graphed(_FakeCudaInput(x))
        expected = eager(x)
    runner = graph_runner(graphed)
    assert isinstance(runner, _RecordingRunner) and runner.calls == 2  # made once, used for both calls
    assert runner.module is graphed and runner.settings == dict(min_calls=1, max_graphs=2, warmup=1)
    # The body is the network's own forward; the hooks of the module (NCHW outputs) still run after it.
    assert all(o.is_contiguous() for o in outs)
    for a, b in zip(expected, outs):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


@pytest.mark.parametrize('value, message', [
    ('yes', 'cuda_graph must be a bool or a dict'),
    (dict(max_graph=2), 'cuda_graph takes max_graphs, min_calls and warmup'),
    (dict(min_calls=0), 'cuda_graph min_calls must be an int >= 1'),
    (dict(warmup=-1), 'cuda_graph warmup must be an int >= 0'),
])
def test_bad_cuda_graph_settings_are_named(value, message):
    with pytest.raises(ConfigError, match=message):
        build_hrnet(arch='w18-small-v1', cuda_graph=value)


def test_config_forms_become_the_runner_settings():
    assert cuda_graph_settings(False) is None
    assert cuda_graph_settings(True) == dict(max_graphs=3, min_calls=2, warmup=2)
    assert cuda_graph_settings(dict(warmup=0)) == dict(max_graphs=3, min_calls=2, warmup=0)


def test_cuda_graph_and_activation_checkpointing_exclude_each_other():
    with pytest.raises(ConfigError, match='exclude each other'):
        build_hrnet(arch='w18-small-v1', cuda_graph=True, with_cp=True)


def test_runner_settings_are_checked():
    with pytest.raises(ConfigError, match='max_graphs must be an int >= 1'):
        CudaGraphRunner(nn.Identity(), body=lambda x: [x], max_graphs=0)


def test_a_model_with_a_runner_deep_copies_and_pickles(monkeypatch, tmp_path):
    monkeypatch.setattr(cuda_graph, 'CudaGraphRunner', _RecordingRunner)
    _, model = _pair()
    with torch.no_grad():
        model(_FakeCudaInput(torch.rand(1, 3, 64, 64)))  # as after a CUDA forward
    assert graph_runner(model) is not None
    x = torch.rand(1, 3, 64, 64)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert graph_runner(clone) is None  # the copy records its own
        assert clone.forward.module is clone and clone.forward.settings == model.forward.settings
        with torch.no_grad():
            for a, b in zip(model.eval()(x), clone.eval()(x)):
                torch.testing.assert_close(b, a, rtol=0, atol=0)
    torch.save(model, tmp_path / 'm.pt')  # whole-module save (EMA hooks and users do it)


class _ComputingGraph:
    """Stands for a recorded CUDA graph: ``replay()`` runs the computation on the static tensors."""

    def __init__(self, compute):
        self.replay = compute


def _cpu_recording(weight):
    """A recording of ``out = x * weight`` (and its backward) whose graphs compute on the CPU."""
    rec = _Recording.__new__(_Recording)  # its constructor makes real CUDA graphs
    rec.static_x, rec.static_outs, rec.static_grad_outs = torch.zeros(2, 3), (torch.zeros(2, 3),), (torch.zeros(2, 3),)
    rec.grad_params, rec.static_grads, rec.static_x_grad = [weight], (torch.zeros(3),), None
    rec.fwd = _ComputingGraph(lambda: rec.static_outs[0].copy_(rec.static_x * weight.detach()))
    rec.bwd = _ComputingGraph(lambda: rec.static_grads[0].copy_((rec.static_grad_outs[0] * rec.static_x).sum(0)))
    rec.node, rec.backward_done = None, True
    return rec


def test_a_pending_backward_is_seen_while_only_copies_of_the_outputs_are_held():
    """What the caller keeps may be tensors computed from the replay's outputs (the NCHW hook's copies):
    the replay's autograd node, not the output tensors, says whether its backward can still come."""
    module = nn.Linear(3, 3, bias=False)
    weight = nn.Parameter(torch.rand(3))
    module.weight2 = weight
    runner = CudaGraphRunner(module, body=lambda x: [x])
    rec = _cpu_recording(weight)
    x = torch.rand(2, 3)

    held = tuple(o.clone() for o in runner._replay(rec, x))  # the outputs themselves are dropped at once
    assert rec.backward_pending()
    held[0].sum().backward()
    assert not rec.backward_pending()
    torch.testing.assert_close(weight.grad, x.sum(0))  # d/dw sum(x * w), from the "recorded" backward

    held = tuple(o.clone() for o in runner._replay(rec, x))
    assert rec.backward_pending()
    del held  # dropped without a backward: nothing can come
    assert not rec.backward_pending()


# ----------------------------------------------------------------- on a GPU
def _step(model, x, target_seed=0):
    outs = model(x)
    gen = torch.Generator(device=x.device).manual_seed(target_seed)
    loss = sum((o.float() * torch.rand(o.shape, generator=gen, device=x.device)).sum() for o in outs)
    loss.backward()
    return [o.detach().float() for o in outs]


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.cuda
@pytest.mark.parametrize('kwargs', [{}, dict(norm_eval=True), dict(frozen_stages=1)], ids=['plain', 'norm_eval',
                                                                                          'frozen'])
def test_training_steps_equal_eager_outputs_grads_and_bn_statistics(kwargs, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
    eager, graphed = (m.cuda().train() for m in _pair(**kwargs))
    for step in range(3):  # recorded at the first, replayed after
        x = torch.rand(2, 3, 96, 128, device='cuda', generator=torch.Generator('cuda').manual_seed(step))
        for m in (eager, graphed):
            m.zero_grad(set_to_none=True)
        expected, got = _step(eager, x, step), _step(graphed, x, step)
        for a, b in zip(expected, got):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
        eg, gg = _grads(eager), _grads(graphed)
        assert eg.keys() == gg.keys() and eg
        for name in eg:
            torch.testing.assert_close(gg[name], eg[name], rtol=1e-3, atol=1e-4, msg=name)
        for (name, a), b in zip(eager.named_buffers(), graphed.buffers()):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)
    runner = graph_runner(graphed)
    assert runner.stats['recordings'] == 1 and runner.stats['replays'] == 3


@pytest.mark.cuda
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_autocast_steps_equal_eager(dtype):
    eager, graphed = (m.cuda().train() for m in _pair())
    for _ in range(3):
        x = torch.rand(2, 3, 64, 64, device='cuda')
        with torch.autocast('cuda', dtype=dtype):  # mmengine's AmpOptimWrapper: cache enabled
            expected, got = _step(eager, x), _step(graphed, x)
        for a, b in zip(expected, got):
            torch.testing.assert_close(b, a, rtol=2e-2, atol=2e-2)
    assert graph_runner(graphed).stats['replays'] == 3


@pytest.mark.cuda
def test_new_shapes_are_recorded_within_the_bound_and_never_replayed_stale():
    eager, graphed = (m.cuda().eval() for m in _pair())
    sizes = [(64, 64), (64, 64), (96, 64), (96, 64), (128, 96), (128, 96), (64, 64)]
    with torch.no_grad():
        for h, w in sizes:
            x = torch.rand(1, 3, h, w, device='cuda')
            for a, b in zip(eager(x), graphed(x)):
                assert a.shape == b.shape
                torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    stats = graph_runner(graphed).stats
    assert stats['recordings'] == 2  # max_graphs: the third shape runs eagerly
    assert stats['eager'] == 2 and stats['replays'] == 5


@pytest.mark.cuda
def test_a_second_forward_before_backward_runs_eagerly():
    _, graphed = (m.cuda().train() for m in _pair())
    x = torch.rand(2, 3, 64, 64, device='cuda')
    _step(graphed, x)  # recorded
    first = graphed(x)
    second = graphed(x)  # the recording's activations still back `first`
    (sum(o.sum() for o in first) + sum(o.sum() for o in second)).backward()
    assert graph_runner(graphed).stats['eager'] == 1


@pytest.mark.cuda
def test_train_and_eval_switches_use_separate_recordings():
    eager, graphed = (m.cuda() for m in _pair())
    x = torch.rand(2, 3, 64, 64, device='cuda')
    for mode in ('train', 'eval', 'train', 'eval'):
        for m in (eager, graphed):
            getattr(m, mode)()
        with torch.set_grad_enabled(mode == 'train'):
            for a, b in zip(eager(x), graphed(x)):
                torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    assert graph_runner(graphed).stats['recordings'] == 2


def _segmentor(cuda_graph: bool, device: str):
    from hrnet_mm.apis import build_model
    from hrnet_mm.apis.build import load_config
    cfg = load_config(str(REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'))
    cfg.model.backbone.cuda_graph = cuda_graph
    torch.manual_seed(0)
    model, _, _ = build_model(cfg)
    return model.to(device).train()


def _seg_batch(size: int = 128):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(0)
    images, samples = [], []
    for _ in range(2):
        images.append(torch.randint(0, 255, (3, size, size), generator=gen, dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 6, (1, size, size), generator=gen))
        samples.append(sample)
    return dict(inputs=images, data_samples=samples)


def _train_losses(wrapper: str, device: str, steps: int = 4):
    """Summed losses of ``steps`` mmengine train steps (SGD, gradient clipping), eager vs cuda_graph=True."""
    from mmengine.optim import build_optim_wrapper
    eager, graphed = _segmentor(False, device), _segmentor(True, device)
    graphed.load_state_dict(eager.state_dict())
    cfg = dict(type=wrapper.split('-')[0], optimizer=dict(type='SGD', lr=0.01, momentum=0.9),
               clip_grad=dict(max_norm=1.0))
    if '-' in wrapper:
        cfg['dtype'] = wrapper.split('-')[1].replace('fp', 'float')
    data = _seg_batch()
    losses = {}
    for name, model in (('eager', eager), ('graphed', graphed)):
        optim = build_optim_wrapper(model, cfg)
        losses[name] = [sum(v.item() for k, v in model.train_step(data, optim).items() if 'loss' in k)
                        for _ in range(steps)]
    return losses, graphed


def test_mmengine_train_steps_on_cpu_are_eager_and_unchanged():
    losses, graphed = _train_losses('OptimWrapper', 'cpu', steps=2)
    assert losses['graphed'] == losses['eager'] and losses['eager'][1] != losses['eager'][0]
    assert isinstance(graphed.backbone.forward, GraphedForward) and graph_runner(graphed.backbone) is None


@pytest.mark.cuda
@pytest.mark.parametrize('wrapper', ['OptimWrapper', 'AmpOptimWrapper-fp16', 'AmpOptimWrapper-bf16'])
def test_mmengine_train_steps_with_clipping_equal_eager(wrapper):
    losses, graphed = _train_losses(wrapper, 'cuda')
    tol = 1e-4 if wrapper == 'OptimWrapper' else 5e-2
    assert losses['graphed'] == pytest.approx(losses['eager'], rel=tol), losses
    assert graph_runner(graphed.backbone).stats['replays'] >= 3
