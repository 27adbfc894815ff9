"""Config text inside a checkpoint is data: mmengine never executes code a file brings along."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import hrnet_mm  # noqa: F401
from hrnet_mm.checkpoint import load_local_checkpoint, plain_config_problem

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / 'configs').rglob('*.py'))
SEG_DEMO = REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'


def _code(marker: Path) -> str:
    """Config text whose execution writes ``marker``, hidden among plain settings."""
    return (f"model = dict(type='EncoderDecoder')\n"
            f"x = open({str(marker)!r}, 'w').write('code ran')\n")


@pytest.mark.parametrize('config', CONFIGS[::6], ids=lambda p: p.name)
def test_what_mmengine_writes_for_our_configs_is_plain(config):
    """mmengine stores ``Config.pretty_text``; for our configs (a sample of every family) it must pass."""
    text = Config.fromfile(str(config)).pretty_text
    assert plain_config_problem(text) is None


@pytest.mark.parametrize('text, problem', [
    ("import os\n", 'Import at line 1'),
    ("x = __import__('os').system('id')\n", 'Call at line 1'),
    ("x = dict(a=open('f'))\n", 'Call at line 1'),
    ("x = (lambda: 1)()\n", 'Call at line 1'),
    ("x = [i for i in range(3)]\n", 'ListComp at line 1'),
    ("x = f'{1}'\n", 'JoinedStr at line 1'),
    ("x = y\n", 'Name at line 1'),
    ("x = dict(**y)\n", 'dict(**...)'),
    ("x.y = 1\n", 'Assign at line 1'),
    ("_base_ = '/tmp/other.py'\n", '_base_ at line 1'),
    ("custom_imports = dict(imports=['antigravity'])\n",
     "custom_imports of modules not imported here: ['antigravity']"),
    ("x = (\n", 'not Python: SyntaxError'),
    (b"x = 1", 'a bytes, not text'),
])
def test_anything_but_plain_data_is_named(text, problem):
    assert plain_config_problem(text) == problem


def test_custom_imports_of_loaded_modules_and_dict_displays_are_plain():
    text = ("custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)\n"
            "palette = [[128, 64, 128], [-1, +2]]\nx = {'a-b': (1, 2.5, None, True)}\n")
    assert plain_config_problem(text) is None


def _genuine_run_checkpoint(tmp_path: Path, text: str) -> Path:
    """An mmengine-style checkpoint of a toy model carrying ``text`` wherever mmengine keeps config text."""
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance(f'config-text-{tmp_path.name}')
    hub.update_info('cfg', text)
    path = tmp_path / 'iter_1.pth'
    torch.save({'meta': {'epoch': 0, 'iter': 1, 'cfg': text, 'config': text, 'seed': 0},
                'state_dict': torch.nn.Linear(1, 1).state_dict(), 'message_hub': hub.state_dict()}, path)
    return path


def test_resume_with_code_in_meta_config_runs_no_code(tmp_path):
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    marker = tmp_path / 'marker.txt'
    path = _genuine_run_checkpoint(tmp_path, _code(marker))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(2, 1)), batch_size=1)
    with DefaultScope.overwrite_default_scope('mmengine'):
        runner = Runner(model=torch.nn.Linear(1, 1), work_dir=str(tmp_path / 'work'), load_from=str(path),
                        resume=True, train_dataloader=loader, train_cfg=dict(by_epoch=False, max_iters=2),
                        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)), default_scope='mmengine',
                        experiment_name=f'config-text-{tmp_path.name}')
        runner.load_or_resume()
    assert runner.iter == 1, 'the rest of the checkpoint resumes'
    assert not marker.exists(), 'Runner.resume executed config text from the checkpoint'


def test_an_inferencer_given_only_weights_runs_no_code(tmp_path):
    from mmseg.apis import MMSegInferencer
    marker = tmp_path / 'marker.txt'
    path = _genuine_run_checkpoint(tmp_path, _code(marker))
    with pytest.raises(ValueError, match='Cannot find the config in the checkpoint'):
        MMSegInferencer(model=None, weights=str(path), device='cpu')
    assert not marker.exists(), 'the inferencer executed config text from the checkpoint'


def test_an_inferencer_given_only_weights_uses_plain_config_text(tmp_path):
    """The benign control: a checkpoint of our seg demo carrying its own pretty_text builds the model."""
    from mmengine.registry import DefaultScope
    from mmseg.apis import MMSegInferencer
    from mmseg.registry import MODELS
    cfg = Config.fromfile(str(SEG_DEMO))
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    path = tmp_path / 'demo.pth'
    torch.save({'meta': {'cfg': cfg.pretty_text}, 'state_dict': model.state_dict()}, path)
    assert load_local_checkpoint(path)['meta']['cfg'] == cfg.pretty_text
    with DefaultScope.overwrite_default_scope('mmseg'):  # as mmseg's own tools run it
        inferencer = MMSegInferencer(model=None, weights=str(path), device='cpu')
    weight = 'backbone.conv1.weight'
    assert torch.equal(inferencer.model.state_dict()[weight], model.state_dict()[weight])
