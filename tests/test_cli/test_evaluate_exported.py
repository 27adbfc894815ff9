"""``hrnet-mm test CONFIG model.onnx``: an exported file evaluated on the config's test split with the
library's own metric, giving what the stock test loop gives for the checkpoint it was exported from."""
import logging
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from hrnet_mm.apis import export_onnx, quantize_onnx
from hrnet_mm.cli import main
from hrnet_mm.testing.cli import one_line_cli_error
from hrnet_mm.testing.exports import config_on_data, save_random_checkpoint

REPO = Path(__file__).resolve().parents[2]
SEG = str(REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py')
# mmseg rounds its metrics to 2 decimals; float32 files compute PyTorch's logits to ~1e-6 of their scale,
# so a pixel's class (and a metric) changes only where two logits tie that closely: at most one step.
FLOAT32_TOLERANCE = 0.01
# docs/deploy.md's int8 target for segmentation (measured here: within 0.4 of float32 on every metric).
INT8_TOLERANCE = 1.0


def _save_checkpoint_with_a_varied_head(config: str, path: Path) -> str:
    """A random-weight checkpoint whose logits are centred, scaled random projections of the head's features.

    Random init alone predicts one class for every pixel, which a wrong file would match as well; with
    logits of zero mean and unit scale per class on the test images, the classes vary pixel by pixel.
    """
    import copy

    from mmengine.registry import DefaultScope

    from hrnet_mm.apis import build_model
    save_random_checkpoint(config, path)
    model, library, cfg = build_model(config, str(path))
    with DefaultScope.overwrite_default_scope(library.name):
        batch = next(iter(Runner.build_dataloader(copy.deepcopy(cfg.test_dataloader))))
    seen = []
    hook = model.decode_head.conv_seg.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    with torch.no_grad():
        model.test_step(batch)
    hook.remove()
    features = seen[0]
    mean, std = features.mean((0, 2, 3)), features.std((0, 2, 3)).clamp_min(1e-6)
    classes, channels = model.decode_head.conv_seg.weight.shape[:2]
    weight = torch.randn(classes, channels, generator=torch.Generator().manual_seed(0)) / std / channels ** 0.5
    state = model.state_dict()
    state['decode_head.conv_seg.weight'] = weight[:, :, None, None]
    state['decode_head.conv_seg.bias'] = -(weight @ mean)
    torch.save(dict(state_dict=state, meta={}), path)
    model.load_state_dict(state)
    with torch.no_grad():
        predicted = torch.cat([s.pred_sem_seg.data for s in model.test_step(batch)])
    assert len(predicted.unique()) >= 4, predicted.unique()  # varied, as meant
    return str(path)


@pytest.fixture(scope='module')
def seg_files(seg_data, tmp_path_factory):
    """The seg demo on the suite's data: config, checkpoint, float32 export and its int8 form."""
    root = tmp_path_factory.mktemp('evaluate_exported')
    config = config_on_data(SEG, seg_data, root / 'seg_on_data.py')
    checkpoint = _save_checkpoint_with_a_varied_head(config, root / 'seg.pth')
    fp32 = export_onnx(config, checkpoint, root / 'seg.onnx', (1, 3, 128, 128), dynamic=True, verify=False)
    int8 = root / 'seg.int8.onnx'
    quantize_onnx(fp32, int8, [torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(i))
                               for i in range(2)])
    return config, checkpoint, {'fp32': fp32, 'int8': int8}


@pytest.fixture(scope='module')
def stock_metrics(seg_files, tmp_path_factory):
    """What the stock tools/test.py runs for the checkpoint: mmengine's Runner and its test loop."""
    config, checkpoint, _ = seg_files
    cfg = Config.fromfile(config)
    cfg.load_from = checkpoint
    cfg.work_dir = str(tmp_path_factory.mktemp('stock_test'))
    cfg.log_level = 'WARNING'
    cfg.default_hooks.pop('visualization', None)
    runner = Runner.from_cfg(cfg)
    runner.logger.setLevel(logging.WARNING)
    return runner.test()


def _printed_metrics(out: str) -> dict:
    return {m[1]: float(m[2]) for m in re.finditer(r'^([\w/]+): (-?[\d.]+)$', out, flags=re.MULTILINE)}


@pytest.mark.parametrize('kind', ['fp32', 'int8'])
@pytest.mark.parametrize('engine', ['onnxruntime', 'openvino'])
def test_an_export_prints_the_metrics_of_the_stock_test_of_its_checkpoint(seg_files, stock_metrics, engine, kind,
                                                                        capsys):
    config, _, exported = seg_files
    assert main(['test', config, str(exported[kind]), '--engine', engine]) == 0
    out = capsys.readouterr().out
    assert f'{exported[kind].name} in {engine} on the test split of seg_on_data.py:' in out
    printed = _printed_metrics(out)
    assert set(printed) == set(stock_metrics) == {'aAcc', 'mIoU', 'mAcc'}
    tolerance = FLOAT32_TOLERANCE if kind == 'fp32' else INT8_TOLERANCE
    for name, value in stock_metrics.items():
        assert printed[name] == pytest.approx(float(value), abs=tolerance), (name, printed, stock_metrics)


def test_options_of_the_stock_run_alone_are_refused_in_one_line(seg_files, tmp_path, capsys):
    config, checkpoint, exported = seg_files
    err = one_line_cli_error(['test', config, str(exported['fp32']), '--show-dir', 'vis', '--gpus', '2'], capsys)
    assert err == ('hrnet-mm test: --show-dir, --gpus: an exported file is evaluated in this process on the CPU; '
                   'these options apply to a .pth checkpoint')
    err = one_line_cli_error(['test', config, checkpoint, '--engine', 'openvino', '--dry-run'], capsys)
    assert err == 'hrnet-mm test: --engine and --threads apply to an exported .onnx file; a .pth runs in PyTorch'
