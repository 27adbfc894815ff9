"""configs/hrnet_cls: every config builds through mmpretrain and classifies; tables state measured numbers."""
import re
from pathlib import Path

import pytest
import torch
import yaml
from mmengine.config import Config

import hrnet_mm
from hrnet_mm.apis import build_model
from hrnet_mm.complexity import ClsReference, count_gflops, count_params, measure, paper_table

REPO = Path(__file__).resolve().parents[2]
FOLDER = REPO / 'configs' / 'hrnet_cls'
CONFIGS = sorted(FOLDER.glob('*.py'))
IMAGENET = [p for p in CONFIGS if p.name.endswith('_in1k.py')]
METAFILE = yaml.safe_load((FOLDER / 'metafile.yml').read_text())
README = (FOLDER / 'README.md').read_text()


def _short(arch: str) -> str:
    """Config-name spelling of a preset: w18-small-v1 -> w18s-v1."""
    return arch.replace('-small-', 's-')


def _entry(path: Path) -> dict:
    (entry,) = [m for m in METAFILE['Models'] if m['Config'] == path.relative_to(REPO).as_posix()]
    return entry


def test_every_official_model_has_an_imagenet_config():
    names = {p.name for p in IMAGENET}
    assert names == {f"hrnet-{_short(r['arch'])}-c_4xb32_in1k.py" for r in paper_table()['cls']}
    assert any('synthetic' in p.name for p in CONFIGS)


@pytest.mark.parametrize('path', CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds_through_mmpretrain_and_classifies(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmpretrain' and cfg.custom_imports == dict(imports=['hrnet_mm'],
                                                                            allow_failed_imports=False)
    assert cfg.model.backbone.type == 'hrnet_mm.HRNet' and cfg.model.backbone.multiscale_output is True
    assert cfg.model.neck.type == 'hrnet_mm.HRNetClsNeck'
    model = build_model(str(path))[0]
    assert isinstance(model.backbone, hrnet_mm.HRNet) and isinstance(model.neck, hrnet_mm.models.HRNetClsNeck)
    assert model.neck.in_channels == model.backbone.out_channels
    num_classes = cfg.model.head.num_classes
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 64, 64), mode='tensor')
    assert tuple(logits.shape) == (1, num_classes) and torch.isfinite(logits).all()
    # The network is the paper's HRNet-C (same count as the reference of hrnet_mm.complexity) ...
    params = count_params(model)
    assert params == count_params(ClsReference(cfg.model.backbone.arch, num_classes))
    # ... and the metafile states the count of this very model.
    assert _entry(path)['Metadata']['Parameters'] == params


@pytest.mark.parametrize('path', IMAGENET, ids=[p.stem for p in IMAGENET])
def test_imagenet_configs_keep_the_stock_recipe(path, tmp_path):
    """Only backbone, neck and the checkpoint hook's type differ from mmpretrain's own HRNet config."""
    width = re.match(r'hrnet-w(\d+)', path.name).group(1)
    stock_file = tmp_path / 'stock.py'
    stock_file.write_text(f"_base_ = 'mmpretrain::hrnet/hrnet-w{width}_4xb32_in1k.py'\n")
    ours, stock = Config.fromfile(str(path)).to_dict(), Config.fromfile(str(stock_file)).to_dict()
    assert ours.pop('custom_imports')
    assert ours['default_hooks']['checkpoint'].pop('type') == 'hrnet_mm.SafeCheckpointHook'
    assert stock['default_hooks']['checkpoint'].pop('type') == 'CheckpointHook'
    for cfg in (ours, stock):
        del cfg['model']['backbone'], cfg['model']['neck']
    assert ours == stock
    assert stock['model']['head'] == dict(type='LinearClsHead', in_channels=2048, num_classes=1000,
                                          loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5))


def _readme_row(name: str):
    number = r' \| ([0-9.]+)'
    row = re.search(r'^\| ' + re.escape(name) + number * 5 + r'% \|', README, re.M)
    assert row, f'README table lacks {name}'
    return [float(v) for v in row.groups()]


@pytest.mark.parametrize('row', paper_table()['cls'], ids=[r['arch'] for r in paper_table()['cls']])
def test_readme_and_metafile_state_measured_complexity(row):
    stem = f"hrnet-{_short(row['arch'])}-c_4xb32_in1k"
    params, gflops = measure('cls', row['arch'], (224, 224), 1000)
    ours_params, ours_gflops, official_params, official_gflops, official_err = _readme_row(stem)
    assert ours_params == pytest.approx(params, abs=0.005) and ours_gflops == pytest.approx(gflops, abs=0.005)
    assert (official_params, official_gflops, official_err) == (row['params_m'], row['gflops'],
                                                                 row['imagenet_top1_err'])
    meta = _entry(FOLDER / f'{stem}.py')['Metadata']
    assert meta['FLOPs Input Size'] == '224x224' and meta['FLOPs'] == pytest.approx(gflops, abs=0.005)


def test_synthetic_demo_metafile_entry():
    (path,) = [p for p in CONFIGS if 'synthetic' in p.name]
    entry = _entry(path)
    assert entry['Metadata']['Training Resources'] == '2-core CPU'
    with torch.device('meta'):
        reference = ClsReference('w18-small-v1', num_classes=6)
    assert entry['Metadata']['FLOPs'] == pytest.approx(count_gflops(reference, (3, 224, 224)), abs=0.005)
    (result,) = entry['Results']
    top1 = result['Metrics']['Top 1 Accuracy']
    assert 90 <= top1 <= 100 and f'top-1 {top1}' in README
    assert not any(m.get('Results') for m in METAFILE['Models'] if m is not entry)  # only runs we made
    assert {m['Name'] for m in METAFILE['Models']} == {p.stem for p in CONFIGS}
