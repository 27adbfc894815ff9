"""What a user waits for: full training iterations and inference of real configs, side by side.

Each model is built from its config, gets the optimizer wrapper its config names (with the AMP
setting forced the same for all) and one fixed, pre-collated synthetic batch, so data loading is out
of the timing and every model sees the same images. A training iteration is
``model.train_step(batch, optim_wrapper)`` (data preprocessor, forward, loss, backward, clipping,
optimizer step); inference is ``model.test_step(batch)`` (up to the post-processed predictions).
Models take turns, round by round, after warm-up, in one process.
"""
import contextlib
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from hrnet_mm.apis.build import build_model, load_config
from hrnet_mm.apis.libraries import Library

from .timing import interleaved, sync

Size = Tuple[int, int]


def synthetic_batch(library: Library, cfg: Any, batch: int, size: Size, seed: int = 0) -> dict:
    """A collated batch as the library's data loader would give it: uint8 images and data samples.

    Args:
        library: The config's library. cfg: The config (class and keypoint counts come from its model).
        batch: Images. size: (H, W) of each image. seed: Seed of the random content.
    """
    from mmengine.structures import InstanceData, PixelData
    gen = torch.Generator().manual_seed(seed)
    h, w = size
    images = [torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8) for _ in range(batch)]
    samples = []
    for _ in range(batch):
        meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), scale_factor=(1.0, 1.0))
        if library.name == 'mmseg':
            from mmseg.structures import SegDataSample
            classes = cfg.model.decode_head.num_classes
            sample = SegDataSample(metainfo=meta)
            sample.gt_sem_seg = PixelData(data=torch.randint(0, classes, (1, h, w), generator=gen))
        elif library.name == 'mmpose':
            from mmpose.structures import PoseDataSample
            k = cfg.model.head.out_channels
            sample = PoseDataSample(metainfo=dict(meta, input_size=(w, h), input_center=np.array([w / 2, h / 2]),
                                                  input_scale=np.array([w, h], dtype=np.float32),
                                                  flip_indices=list(range(k))))
            keypoints = torch.rand(1, k, 2, generator=gen) * torch.tensor([w, h])
            sample.gt_instances = InstanceData(bboxes=np.array([[0.0, 0.0, w, h]]), bbox_scores=np.ones(1),
                                               keypoints=keypoints.numpy())
            sample.gt_instance_labels = InstanceData(keypoint_weights=torch.ones(1, k))
            sample.gt_fields = PixelData(heatmaps=torch.rand(k, h // 4, w // 4, generator=gen))
        elif library.name == 'mmpretrain':
            from mmpretrain.structures import DataSample
            classes = cfg.model.head.num_classes
            sample = DataSample(metainfo=meta).set_gt_label(int(torch.randint(0, classes, (1,), generator=gen)))
        else:
            from mmdet.structures import DetDataSample
            head = cfg.model.get('roi_head', {}).get('bbox_head') or cfg.model.get('bbox_head')
            classes = head['num_classes'] if isinstance(head, dict) else head[0]['num_classes']
            sample = DetDataSample(metainfo=meta)
            corner = torch.rand(4, 2, generator=gen) * torch.tensor([w * 0.6, h * 0.6])
            extent = 16 + torch.rand(4, 2, generator=gen) * torch.tensor([w * 0.3, h * 0.3])
            sample.gt_instances = InstanceData(bboxes=torch.cat([corner, corner + extent], 1),
                                               labels=torch.randint(0, classes, (4,), generator=gen))
        samples.append(sample)
    return dict(inputs=images, data_samples=samples)


def _to_device(data: dict, device: str) -> dict:
    """Move the data samples' tensors ahead of time (the images move in the data preprocessor)."""
    samples = [s.to(device) for s in data['data_samples']]
    return dict(inputs=data['inputs'], data_samples=samples)


def optim_wrapper_for(model: nn.Module, cfg: Any, amp: Optional[str]):
    """The config's optimizer (and clipping) under OptimWrapper, or AmpOptimWrapper with ``amp`` dtype."""
    from mmengine.optim import build_optim_wrapper
    wrapper = dict(cfg.optim_wrapper)
    wrapper.pop('_delete_', None)
    kept = {k: wrapper[k] for k in ('optimizer', 'clip_grad', 'paramwise_cfg', 'accumulative_counts') if k in wrapper}
    if amp:
        kept.update(type='AmpOptimWrapper', dtype=amp, loss_scale='dynamic' if amp == 'float16' else 1.0)
    else:
        kept.update(type='OptimWrapper')
    return build_optim_wrapper(model, kept)


def _infer(model: nn.Module, data: dict, device: str, amp: Optional[str]) -> Any:
    # No autocast at all without amp: a disabled CPU autocast with float32 still raises on torch 2.1.
    cast = torch.autocast(device.split(':')[0], dtype=getattr(torch, amp)) if amp else contextlib.nullcontext()
    with torch.no_grad(), cast:
        return model.test_step(data)  # type: ignore[operator]


def compare_configs(configs: Dict[str, str], batch: int, size: Optional[Size] = None, device: str = 'cpu',
                    amp: Optional[str] = None, iters: int = 10, warmup: int = 3,
                    phases: Tuple[str, ...] = ('train', 'infer')) -> List[dict]:
    """Time training iterations and inference of several configs in one process, taking turns.

    Args:
        configs: Label -> config path (``pkg::`` paths such as ``mmseg::hrnet/...`` allowed).
        batch: Images per iteration. size: (H, W); default: the first config's training size.
        device: ``'cuda'`` or ``'cpu'``. amp: None, ``'float16'`` or ``'bfloat16'`` for every model.
        iters: Timed iterations per model and phase. warmup: Untimed iterations first (recording,
            autotuning, lazy init). phases: Any of ``'train'``, ``'infer'``.

    Returns:
        One row per (label, phase): ``ms`` (median), ``ms_iqr``, ``images_per_s``, ``peak_mem_mib``
        (CUDA only, else None: peak allocation of the warm-up steps above the memory resident before
        them) and ``speedup`` against the last label (the reference).
    """
    built = {}
    for label, path in configs.items():
        model, library, cfg = build_model(load_config(path))
        size = size or library.input_size(cfg)
        built[label] = (model.to(device), library, cfg)
    assert size is not None
    rows: List[dict] = []
    for phase in phases:
        steps: Dict[str, Callable[[], Any]] = {}
        peaks: Dict[str, Optional[float]] = {}
        for label, (model, library, cfg) in built.items():
            data = _to_device(synthetic_batch(library, cfg, batch, size), device)
            if phase == 'train':
                model.train()
                wrapper = optim_wrapper_for(model, cfg, amp)
                steps[label] = partial(model.train_step, data, wrapper)
            else:
                model.eval()

                steps[label] = partial(_infer, model, data, device, amp)
        for label, step in steps.items():
            base = 0
            if device.startswith('cuda'):
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
            for _ in range(warmup):
                step()
            sync(device)
            # Above what is resident before the step (every model's weights): activations, gradients,
            # optimizer state, recordings.
            peaks[label] = (torch.cuda.max_memory_allocated() - base) / 2**20 if device.startswith('cuda') else None
        stats = interleaved(steps, iters, 0, device)  # warmed up above
        reference = stats[list(steps)[-1]]['median_s']
        for label, st in stats.items():
            ms = st['median_s'] * 1e3
            rows.append(dict(label=label, phase=phase, batch=batch, size=list(size), device=device, amp=amp,
                             ms=ms, ms_iqr=(st['q3_s'] - st['q1_s']) * 1e3, images_per_s=batch / (ms / 1e3),
                             peak_mem_mib=peaks[label], speedup=reference * 1e3 / ms))
    return rows
