"""model-index.yml and the per-folder metafiles: complete, consistent, readable by mmengine, numbers measured."""
from pathlib import Path

import pytest
import torch
import yaml
from mmengine.config.utils import _get_cfg_metainfo

from hrnet_mm.apis import build_model
from hrnet_mm.complexity import count_gflops

REPO = Path(__file__).resolve().parents[1]
CONFIG_FOLDERS = sorted(p.name for p in (REPO / 'configs').iterdir() if p.is_dir() and any(p.glob('*.py')))
PAPER_TITLE = 'Deep High-Resolution Representation Learning for Visual Recognition'


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _models() -> list:
    """Every model entry of every metafile, with the folder whose metafile lists it."""
    return [(folder, m) for folder in CONFIG_FOLDERS if (REPO / 'configs' / folder / 'metafile.yml').is_file()
            for m in _load(REPO / 'configs' / folder / 'metafile.yml')['Models']]


def _entry(config: str) -> dict:
    (entry,) = [m for _, m in _models() if m['Config'] == config]
    return entry


def test_model_index_imports_one_metafile_per_config_folder():
    imports = _load(REPO / 'model-index.yml')['Import']
    assert sorted(imports) == [f'configs/{folder}/metafile.yml' for folder in CONFIG_FOLDERS]
    assert len(CONFIG_FOLDERS) >= 3 and {'hrnet_seg', 'hrnet_pose', 'hrnet_det'} <= set(CONFIG_FOLDERS)


@pytest.mark.parametrize('folder', CONFIG_FOLDERS)
def test_metafile_lists_each_config_of_its_folder_exactly_once(folder):
    meta = _load(REPO / 'configs' / folder / 'metafile.yml')
    names = {c['Name'] for c in meta['Collections']}
    for collection in meta['Collections']:
        assert collection['Paper']['Title'] == PAPER_TITLE and collection['Paper']['URL'].startswith('https://')
        assert (REPO / collection['README']).is_file()
        assert collection['Metadata']['Training Data'] and collection['Metadata']['Architecture']
    configs = [m['Config'] for m in meta['Models']]
    on_disk = sorted(p.relative_to(REPO).as_posix() for p in (REPO / 'configs' / folder).glob('*.py'))
    assert sorted(configs) == on_disk and len(set(configs)) == len(configs)
    for model in meta['Models']:
        assert model['Name'] == Path(model['Config']).stem and model['In Collection'] in names
        metadata = model['Metadata']
        assert isinstance(metadata['Parameters'], int) and metadata['Parameters'] > 100_000
        assert isinstance(metadata['FLOPs'], (int, float)) and metadata['FLOPs'] > 0
        assert metadata['Training Data']


def test_no_config_is_listed_twice_across_metafiles():
    configs = [m['Config'] for _, m in _models()]
    assert len(configs) == len(set(configs))
    assert set(configs) == {p.relative_to(REPO).as_posix() for p in (REPO / 'configs').glob('*/*.py')}


def test_results_only_for_measured_runs_with_the_hardware_named():
    with_results = [(folder, m) for folder, m in _models() if m.get('Results')]
    assert with_results, 'the synthetic demo runs have measured results'
    for folder, model in with_results:
        assert model['Metadata']['Training Resources'], model['Name']
        readme = (REPO / 'configs' / folder / 'README.md').read_text() + (REPO / 'README.md').read_text()
        for result in model['Results']:
            for metric, value in result['Metrics'].items():
                # stated in the READMEs as measured, as is (mIoU 89.96, AP 0.961) or as a fraction (box AP 0.669)
                assert f'{value}' in readme or f'{value / 100:.3f}' in readme, (model['Name'], metric, value)
    stock = [m for _, m in _models() if 'synthetic' not in m['Name']]
    assert stock and not any(m.get('Results') for m in stock)  # not trained by us: no results


def test_mmengine_reads_the_index_and_finds_every_config(tmp_path):
    # mmengine reads <package>/.mim/model-index.yml and its metafiles before it falls back to the
    # config path; a malformed file there would break every `hrnet_mm::` lookup.
    mim = tmp_path / '.mim'
    mim.mkdir()
    (mim / 'model-index.yml').symlink_to(REPO / 'model-index.yml')
    (mim / 'configs').symlink_to(REPO / 'configs')
    for _, model in _models():
        relative = model['Config'].partition('/')[2]  # hrnet_seg/<name>.py
        assert _get_cfg_metainfo(str(tmp_path), relative)['Name'] == model['Name']


def _checked_configs() -> list:
    """The synthetic demo configs, and the smallest stock model of each folder: cheap to build on CPU."""
    chosen = []
    for folder in CONFIG_FOLDERS:
        models = [m for f, m in _models() if f == folder]
        chosen += [m['Config'] for m in models if 'synthetic' in m['Name'] and 'cuda-graph' not in m['Name']]
        stock = [m for m in models if 'synthetic' not in m['Name']]
        if stock:
            chosen.append(min(stock, key=lambda m: m['Metadata']['Parameters'])['Config'])
    return chosen


@pytest.mark.parametrize('config', _checked_configs())
def test_parameters_are_those_of_the_built_model(config):
    model, library, cfg = build_model(str(REPO / config))
    assert _entry(config)['Metadata']['Parameters'] == sum(p.numel() for p in model.parameters())
    if 'synthetic' in config and not library.is_detector:
        # FLOPs at the input size the entry names, counted on the meta device (shapes only).
        height, width = map(int, _entry(config)['Metadata']['FLOPs Input Size'].split('x'))
        assert (height, width) == tuple(library.input_size(cfg))
        gflops = count_gflops(model.to('meta'), (3, height, width))
        assert _entry(config)['Metadata']['FLOPs'] == pytest.approx(gflops, abs=0.006)


class _TensorMode(torch.nn.Module):
    """An OpenMMLab model's tensor forward as a plain module, for mmengine's tracing counter."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, None, mode='tensor')


@pytest.mark.parametrize('config', [c for c in _checked_configs() if 'synthetic' in c and 'hrnet_det' not in c])
def test_flops_are_what_mmengines_own_counter_finds(config):
    """The metafile's FLOPs against mmengine's FlopAnalyzer (a traced count, not our hooks): its conv and
    linear multiply-adds / 2**30, the paper's measure."""
    from mmengine.analysis import FlopAnalyzer
    model = build_model(str(REPO / config))[0]
    height, width = map(int, _entry(config)['Metadata']['FLOPs Input Size'].split('x'))
    analyzer = FlopAnalyzer(_TensorMode(model), (torch.zeros(1, 3, height, width),))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    by_operator = analyzer.by_operator()
    counted = (by_operator['conv'] + by_operator.get('linear', 0)) / 2**30
    assert _entry(config)['Metadata']['FLOPs'] == pytest.approx(counted, abs=0.006)


def test_detector_flops_are_those_of_the_dense_trunk_at_800x1333():
    from hrnet_mm.apis.trunk import DetectorTrunk
    config = 'configs/hrnet_det/faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256.py'
    model, _, _ = build_model(str(REPO / config))
    entry = _entry(config)['Metadata']
    assert entry['FLOPs Input Size'] == '800x1333'
    assert entry['FLOPs'] == pytest.approx(count_gflops(DetectorTrunk(model).to('meta'), (3, 800, 1333)), abs=0.006)
