"""configs/hrnet_face: build through mmpose, stock face checkpoints load strictly, real samples run, counts measured."""
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

import hrnet_mm
from hrnet_mm.apis import build_model
from hrnet_mm.complexity import count_gflops, count_params, measure, paper_table
from hrnet_mm.models.necks import HRNetV2Neck

REPO = Path(__file__).resolve().parents[2]
FOLDER = REPO / 'configs' / 'hrnet_face'
CONFIGS = sorted(FOLDER.glob('*.py'))
README = (FOLDER / 'README.md').read_text()
# Landmarks per dataset, as mmpose's metainfo files define them.
KEYPOINTS = {'wflw': 98, '300w': 68, 'cofw': 29, 'aflw': 19}
# The real samples: two images per dataset in mmpose's formats (see the folder's README).
SAMPLES = REPO / 'tests' / 'data' / 'face_samples'


def _config(dataset: str) -> Path:
    return FOLDER / f'td-hm_hrnetv2-w18_1xb16-60e_{dataset}-256x256.py'


def _stock(dataset: str) -> Path:
    import mmpose
    return (Path(mmpose.__file__).parent / '.mim/configs/face_2d_keypoint/topdown_heatmap' / dataset
            / f'td-hm_hrnetv2-w18_8xb64-60e_{dataset}-256x256.py')


def _randomize_norms(model: torch.nn.Module, seed: int) -> None:
    """Random BN affines and running statistics: defaults (ones, zeros) would hide swapped or lost ones."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5, generator=gen)
            m.bias.data.uniform_(-0.2, 0.2, generator=gen)
            m.running_mean.uniform_(-0.2, 0.2, generator=gen)
            m.running_var.uniform_(0.5, 2.0, generator=gen)


def test_every_face_dataset_has_a_config():
    names = {p.name for p in CONFIGS}
    assert {_config(d).name for d in KEYPOINTS} <= names
    assert any('synthetic' in n for n in names)


def test_packaged_names_resolve(tmp_path):
    # What a user writes; the wheel ships every configs/<folder>/*.py (tests/test_packaging.py).
    user = tmp_path / 'user.py'
    user.write_text(f"_base_ = 'hrnet_mm::hrnet_face/{_config('cofw').name}'\n"
                    'model = dict(head=dict(out_channels=5))\n')
    cfg = Config.fromfile(str(user))
    assert cfg.model.backbone.type == 'hrnet_mm.HRNet' and cfg.model.head.out_channels == 5


@pytest.mark.parametrize('path', CONFIGS, ids=[p.stem for p in CONFIGS])
def test_face_config_builds_through_mmpose_and_gives_k_heatmaps(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmpose' and 'hrnet_mm' in cfg.custom_imports['imports']
    model = build_model(cfg)[0]
    assert isinstance(model.backbone, hrnet_mm.HRNet) and isinstance(model.neck, HRNetV2Neck)
    assert model.backbone.out_indices == (0, 1, 2, 3)  # V2: every branch reaches the neck
    assert model.backbone.upsample_cfg['mode'] == 'bilinear'
    k = cfg.model.head.out_channels
    dataset = next((d for d in KEYPOINTS if f'_{d}-' in path.name), '300w')  # the demo writes 300W's format
    assert k == KEYPOINTS[dataset]
    with torch.no_grad():
        heatmaps = model(torch.rand(1, 3, 64, 80), None, mode='tensor')
    assert tuple(heatmaps.shape) == (1, k, 16, 20)
    if 'synthetic' not in path.name:  # the network of `hrnet-mm complexity --task face` is this model
        assert count_params(model) == round(measure('face', 'w18', (256, 256), k)[0] * 1e6)
    # The README's row holds the measured params and GFLOPs (at the codec's input size).
    w, h = cfg.codec['input_size']
    row = re.search(r'^\| %s[ |].*?\| ([0-9.]+) \| ([0-9.]+) \|' % re.escape(path.stem), README, re.M)
    assert row, f'configs/hrnet_face/README.md has no row for {path.stem}'
    assert float(row.group(1)) == pytest.approx(count_params(model) / 1e6, abs=0.005)
    assert float(row.group(2)) == pytest.approx(count_gflops(model.to('meta'), (3, h, w)), abs=0.005)


@pytest.mark.parametrize('dataset', sorted(KEYPOINTS))
def test_stock_mmpose_face_model_loads_strictly_with_equal_outputs(dataset):
    torch.manual_seed(0)
    stock = build_model(str(_stock(dataset)))[0]
    ours = build_model(str(_config(dataset)))[0]
    assert type(stock.backbone) is not type(ours.backbone) and type(stock.neck) is not type(ours.neck)
    _randomize_norms(stock, seed=1)
    theirs = stock.state_dict()
    assert {k: v.shape for k, v in theirs.items()} == {k: v.shape for k, v in ours.state_dict().items()}
    ours.load_state_dict(theirs, strict=True)
    x = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = stock(x, None, mode='tensor')
        got = ours(x, None, mode='tensor')
    assert expected.shape == (2, KEYPOINTS[dataset], 24, 24) and expected.std() > 1e-3
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_the_authors_recipe():
    wflw, aflw, w300 = (Config.fromfile(str(_config(d))) for d in ('wflw', 'aflw', '300w'))
    assert wflw.optim_wrapper.optimizer.type == 'Adam' and wflw.optim_wrapper.optimizer.lr == 1e-4
    assert aflw.optim_wrapper.optimizer.lr == 2e-4  # the authors' AFLW experiment file
    (steps,) = wflw.param_scheduler  # no warm-up
    assert steps.type == 'MultiStepLR' and steps.milestones == [30, 50] and steps.gamma == 0.1
    assert wflw.train_cfg.max_epochs == 60 and wflw.train_dataloader.batch_size == 16
    assert wflw.auto_scale_lr.base_batch_size == 16
    augment = {t.type: t for t in wflw.train_dataloader.dataset.pipeline}
    assert augment['RandomBBoxTransform'].rotate_factor == 30
    assert augment['RandomBBoxTransform'].scale_factor == (0.75, 1.25)
    assert 'RandomFlip' in augment
    def plain(codec):  # mmengine stamps the model's dicts, the shared codec among them, with _scope_
        return {k: v for k, v in codec.items() if k != '_scope_'}

    assert plain(augment['GenerateTarget'].encoder) == plain(wflw.model.head.decoder) == plain(wflw.codec)
    assert wflw.codec.sigma == 1.5 and w300.codec.sigma == 1.0  # the authors' 300W file: sigma 1
    assert wflw.codec.heatmap_size == (64, 64) and wflw.codec.input_size == (256, 256)
    assert wflw.model.backbone.norm_cfg.momentum == 0.01
    assert wflw.model.head.conv_out_channels == (270,) and wflw.model.head.conv_kernel_sizes == (1,)
    assert aflw.val_evaluator.norm_item == 'bbox_size'  # mmpose's AFLW protocol stays


def test_params_and_gflops_next_to_the_paper():
    # The paper states 9.3M params and 4.3 GFLOPs for HRNetV2-W18 at 256x256. Our count of the same
    # network (every layer and shape equal to mmpose's, above, and to the authors' code,
    # tests/test_convert.py) is 9.66M with WFLW's 98 heatmaps, 9.64M with AFLW's 19: 3.7-3.9% above the
    # paper's, while the GFLOPs agree within 2%. (9.32M is what the W18 backbone has with one fused
    # output, V1; the stated number may have been counted that way.)
    params, _ = measure('face', 'w18', (256, 256), 98)
    assert round(params * 1e6) == 9_662_528  # = the WFLW config's model (README row, tested above)
    for row in paper_table()['face']:
        params, gflops = measure('face', row['arch'], tuple(row['input']), row['num_keypoints'])
        assert 0.035 < params / row['params_m'] - 1 < 0.04, (row['dataset'], params)
        assert abs(gflops - row['gflops']) <= 0.02 * row['gflops'], (row['dataset'], gflops)
    v1 = hrnet_mm.HRNet(arch='w18', multiscale_output=False)
    assert round(count_params(v1) / 1e6, 1) == 9.3


@pytest.mark.parametrize('dataset', sorted(KEYPOINTS))
def test_real_samples_run_through_dataset_pipeline_model_and_nme(dataset):
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope
    from mmpose.registry import DATASETS, METRICS

    root = SAMPLES / dataset
    cfg = Config.fromfile(str(_config(dataset)))
    data_cfg = cfg.test_dataloader.dataset
    data_cfg.update(data_root=str(root), ann_file=f'test_{dataset}.json', data_prefix=dict(img=''))
    model = build_model(cfg)[0]  # random weights: the formats, not the accuracy, are under test
    with DefaultScope.overwrite_default_scope('mmpose'):
        data = DATASETS.build(data_cfg)
        metric = METRICS.build(cfg.test_evaluator)
    annotations = json.loads((root / f'test_{dataset}.json').read_text())['annotations']
    assert len(data) == len(annotations) >= 2  # one top-down sample per face (WFLW's second image has three)
    assert data.metainfo['num_keypoints'] == KEYPOINTS[dataset]
    metric.dataset_meta = data.metainfo
    batch = pseudo_collate([data[i] for i in range(len(data))])
    assert tuple(batch['inputs'][0].shape) == (3, 256, 256)
    with torch.no_grad():
        outputs = model.test_step(batch)
    for sample in outputs:
        assert sample.gt_instances.keypoints.shape == (1, KEYPOINTS[dataset], 2)
        assert sample.pred_instances.keypoints.shape == (1, KEYPOINTS[dataset], 2)
    metric.process(batch, [sample.to_dict() for sample in outputs])
    nme = metric.evaluate(len(data))['NME']
    assert math.isfinite(nme) and nme > 0
    # The annotations went through the pipeline unchanged: predictions equal to them score zero.
    for sample, ann in zip(outputs, annotations):
        truth = np.array(ann['keypoints'], dtype=np.float32).reshape(1, -1, 3)[..., :2]
        np.testing.assert_allclose(sample.gt_instances.keypoints, truth)
        sample.pred_instances.keypoints = truth
    metric.process(batch, [sample.to_dict() for sample in outputs])
    assert metric.evaluate(len(data))['NME'] == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize('dataset', sorted(KEYPOINTS))
def test_real_samples_train_one_step_with_the_config_recipe(dataset):
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    from mmpose.registry import DATASETS

    root = SAMPLES / dataset
    cfg = Config.fromfile(str(_config(dataset)))
    data_cfg = cfg.train_dataloader.dataset
    data_cfg.update(data_root=str(root), ann_file=f'test_{dataset}.json', data_prefix=dict(img=''))
    torch.manual_seed(0)
    model = build_model(cfg)[0].train()
    with DefaultScope.overwrite_default_scope('mmpose'):
        data = DATASETS.build(data_cfg)  # the training pipeline: flip, rotation, scale, heatmap targets
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    batch = pseudo_collate([data[i] for i in range(len(data))])
    assert tuple(batch['data_samples'][0].gt_fields.heatmaps.shape) == (KEYPOINTS[dataset], 64, 64)
    before = {k: v.clone() for k, v in model.state_dict().items() if v.is_floating_point()}
    losses = model.train_step(batch, optim_wrapper)
    assert math.isfinite(losses['loss_kpt'].item()) and losses['loss_kpt'].item() > 0
    after = model.state_dict()
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    # Adam moves every weight with a gradient: backbone, neck (none of its own) and head alike.
    assert any(k.startswith('backbone.') for k in moved) and any(k.startswith('head.final_layer') for k in moved)
