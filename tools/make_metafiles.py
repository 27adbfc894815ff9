"""Write configs/<folder>/metafile.yml (OpenMMLab model-index format) and model-index.yml from the configs.

Every number is measured here from our own code: ``Parameters`` counts the parameters of the model
built from the config on CPU (no weights downloaded); ``FLOPs`` is in GFLOPs as the paper counts them
(multiply-adds of Conv2d/Linear layers / 2**30, see hrnet_mm/complexity.py) for one image of the size
given as ``FLOPs Input Size``, counted on the ``meta`` device so that large inputs cost nothing:

* segmentation: the training crop (``crop_size``);
* pose and face landmarks: the codec's input size;
* detection: 800x1333, the dense part only (backbone, neck, RPN or single-stage head), as in
  tools/config_params.py: RoI heads depend on the number of proposals.

``Results`` appear only for runs we made: the synthetic demos, on a 2-core CPU (numbers from the
configs' README files). ``Reference Results`` (same layout, plus the ``Source``) are numbers that others
published for the model of a config we have not trained: the paper's tables and mmdet's model zoo
(``REFERENCES``). Usage (about 3 minutes on 2 cores)::

    python tools/make_metafiles.py                      # every folder in FOLDERS, then model-index.yml
    python tools/make_metafiles.py configs/hrnet_seg    # one folder, then model-index.yml
"""
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml

REPO = Path(__file__).resolve().parents[1]

PAPER = dict(URL='https://arxiv.org/abs/1908.07919',
             Title='Deep High-Resolution Representation Learning for Visual Recognition')

# Folder -> collection; `head` maps a config-name prefix to the architecture after the backbone.
FOLDERS: Dict[str, Dict[str, Any]] = {
    'hrnet_seg': dict(name='HRNetV2-Seg', backbone='HRNetV2', task='Semantic Segmentation',
                      head={'fcn': 'FCN', 'ocrnet': 'OCR'}),
    'hrnet_pose': dict(name='HRNet-Pose', backbone='HRNet', task='Body 2D Keypoint',
                       head={'td-hm': 'Top-down Heatmap'}),
    'hrnet_det': dict(name='HRNetV2p-Det', backbone='HRNetV2p', task='Object Detection',
                      head={'faster-rcnn': 'Faster R-CNN', 'mask-rcnn': 'Mask R-CNN', 'cascade-rcnn': 'Cascade R-CNN',
                            'cascade-mask-rcnn': 'Cascade Mask R-CNN', 'fcos': 'FCOS', 'htc': 'Hybrid Task Cascade'}),
    'hrnet_cls': dict(name='HRNet-C', backbone='HRNet', task='Image Classification',
                      head={f'hrnet-{w}-c': 'HRNet-C head' for w in ('w18s-v1', 'w18s-v2', 'w18', 'w30', 'w32', 'w40',
                                                                     'w44', 'w48', 'w64')}),
    'hrnet_face': dict(name='HRNetV2-Face', backbone='HRNetV2', task='Face 2D Keypoint',
                       head={'td-hm': 'Top-down Heatmap'}),
}

DATASETS = {'CityscapesDataset': 'Cityscapes', 'ADE20KDataset': 'ADE20K', 'PascalContextDataset': 'PASCAL Context',
            'PascalContextDataset59': 'PASCAL Context 59', 'LIPDataset': 'LIP', 'CocoDataset': 'COCO',
            'MpiiDataset': 'MPII', 'ImageNet': 'ImageNet-1k', 'WFLWDataset': 'WFLW', 'Face300WDataset': '300W',
            'COFWDataset': 'COFW', 'AFLWDataset': 'AFLW'}
SYNTHETIC = 'Synthetic'

# Measured runs of the synthetic demo configs (make demo / demo-pose / demo-det / demo-cls / demo-face), see
# configs/*/README.md.
DEMO_RESULTS = {
    'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128': {'mIoU': 89.96},
    'td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96': {'AP': 0.961},
    'faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256': {'box AP': 66.9},
    'hrnet-w18s-v1-c_1xb32-1000it_synthetic-64x64': {'Top 1 Accuracy': 96.0},
    'td-hm_hrnetv2-w18s-v1_1xb32-30e_synthetic-96x96': {'NME': 0.0471},
}
DEMO_RESOURCES = '2-core CPU'


def _coco(source: str, box: float, mask: Any = None) -> List[Dict[str, Any]]:
    """Reference results on COCO val2017: box AP, and mask AP for the instance-segmentation frameworks."""
    results = [{'Task': 'Object Detection', 'Dataset': 'COCO', 'Metrics': {'box AP': box}, 'Source': source}]
    if mask is not None:
        results.append({'Task': 'Instance Segmentation', 'Dataset': 'COCO', 'Metrics': {'mask AP': mask},
                        'Source': source})
    return results


def _paper(table: str) -> str:
    return f'paper (arXiv 1908.07919), {table}; not trained by us'


MMDET_ZOO = 'mmdet 3.3.0 model zoo (its configs/hrnet/metafile.yml): the same model and schedule; not trained by us'

# Published numbers for configs we have not trained (see the configs' README files), by config name.
REFERENCES: Dict[str, List[Dict[str, Any]]] = {
    'htc_hrnetv2p-w18-20e_coco': _coco(_paper('Table X'), 43.1, 37.9) + _coco(MMDET_ZOO, 42.8, 37.9),
    'htc_hrnetv2p-w32-20e_coco': _coco(_paper('Table X'), 45.3, 39.6) + _coco(MMDET_ZOO, 45.4, 39.9),
    'htc_hrnetv2p-w48-20e_coco': _coco(_paper('Table X'), 46.8, 40.7),
    'htc_hrnetv2p-w48-28e_coco': _coco(_paper('Table X'), 47.0, 41.0),
    'cascade-rcnn_hrnetv2p-w18-20e_coco': _coco(_paper('Table VIII'), 41.3) + _coco(MMDET_ZOO, 41.2),
    'cascade-rcnn_hrnetv2p-w48-20e_coco': _coco(_paper('Table VIII'), 44.6),
    'cascade-mask-rcnn_hrnetv2p-w18-20e_coco': _coco(_paper('Table X'), 41.9, 36.4) + _coco(MMDET_ZOO, 41.6, 36.4),
    'cascade-mask-rcnn_hrnetv2p-w48-20e_coco': _coco(_paper('Table X'), 46.0, 39.5),
    'mask-rcnn_hrnetv2p-w18-2x_coco': _coco(_paper('Table X'), 39.2, 35.3) + _coco(MMDET_ZOO, 39.8, 36.0),
    'mask-rcnn_hrnetv2p-w32-2x_coco': _coco(_paper('Table X'), 42.3, 37.6) + _coco(MMDET_ZOO, 42.5, 37.8),
    'fcos_hrnetv2p-w48-gn-head_ms-640-800-4xb4-2x_coco': _coco(_paper('Appendix E, FCOS (mstrain)'), 42.9),
    'fcn_hrnetv2-w48_4xb4-62k_pascal-context-520x520_paper': [
        {'Task': 'Semantic Segmentation', 'Dataset': 'PASCAL Context', 'Metrics': {'mIoU(ms+flip)': 48.3},
         'Source': _paper('Table V, 60 classes')}],
    'fcn_hrnetv2-w48_4xb4-62k_pascal-context-59-520x520_paper': [
        {'Task': 'Semantic Segmentation', 'Dataset': 'PASCAL Context 59', 'Metrics': {'mIoU(ms+flip)': 54.0},
         'Source': _paper('Table V, 59 classes')}],
}

HEADER = """\
# Generated by tools/make_metafiles.py; edit that script, then run it again.
# Parameters: count of the model built from the config. FLOPs: GFLOPs as the paper counts them
# (Conv2d/Linear multiply-adds / 2**30) for one image of `FLOPs Input Size` (HxW); detectors: backbone,
# neck and dense head only. Results: only runs made by us, on the hardware named in Training Resources.
"""

def training_data(cfg, stem: str) -> str:
    """The dataset a config trains on, by its dataset type (``Synthetic`` for the demo configs)."""
    if 'synthetic' in stem:
        return SYNTHETIC
    dataset = cfg.train_dataloader.dataset
    while 'dataset' in dataset:  # wrappers such as RepeatDataset
        dataset = dataset.dataset
    if dataset.type not in DATASETS:
        raise KeyError(f'{stem}: add dataset type {dataset.type!r} to DATASETS in tools/make_metafiles.py')
    return DATASETS[dataset.type]


def measure(config: Path) -> Tuple[int, float, str, Any]:
    """(parameters, GFLOPs, 'HxW' the GFLOPs are for, loaded config) of one config's model.

    Args:
        config: Path of the config file.
    """
    from hrnet_mm.apis import build_model
    from hrnet_mm.apis.trunk import DET_SIZE, DetectorTrunk
    from hrnet_mm.complexity import count_gflops, count_params

    model, library, cfg = build_model(str(config))
    params = count_params(model)
    size = library.input_size(cfg)  # the crop (seg) or codec (pose) size the config trains at
    if library.is_detector:
        model, size = DetectorTrunk(model), DET_SIZE
    gflops = count_gflops(model.to('meta'), (3, *size))
    return params, round(gflops, 2), 'x'.join(map(str, size)), cfg


def architecture(spec: Dict[str, Any], stem: str) -> List[str]:
    """[backbone, head] of a config, the head found from the longest matching name prefix."""
    prefix = max((p for p in spec['head'] if stem.startswith(p + '_')), key=len, default=None)
    if prefix is None:
        raise KeyError(f'{stem}: no head in FOLDERS for its name prefix')
    return [spec['backbone'], spec['head'][prefix]]


def folder_metafile(folder: str) -> Dict[str, Any]:
    """The metafile content of ``configs/<folder>``: one collection, one model per config file."""
    spec = FOLDERS[folder]
    models, datasets, archs = [], [], [spec['backbone']]
    for path in sorted((REPO / 'configs' / folder).glob('*.py')):
        params, gflops, size, cfg = measure(path)
        data = training_data(cfg, path.stem)
        arch = architecture(spec, path.stem)
        datasets += [data] if data not in datasets else []
        archs += [a for a in arch if a not in archs]
        metadata: Dict[str, Any] = {'Architecture': arch, 'Training Data': data, 'Parameters': params,
                                    'FLOPs': gflops, 'FLOPs Input Size': size}
        model: Dict[str, Any] = {'Name': path.stem, 'In Collection': spec['name'],
                                 'Config': f'configs/{folder}/{path.name}', 'Metadata': metadata}
        if path.stem in DEMO_RESULTS:
            metadata['Training Resources'] = DEMO_RESOURCES
            model['Results'] = [{'Task': spec['task'], 'Dataset': data, 'Metrics': DEMO_RESULTS[path.stem]}]
        if path.stem in REFERENCES:
            model['Reference Results'] = REFERENCES[path.stem]
        models.append(model)
        print(f'{path.stem}: {params} params, {gflops} GFLOPs at {size}', flush=True)
    collection = {'Name': spec['name'], 'Metadata': {'Architecture': archs, 'Training Data': datasets},
                  'Paper': dict(PAPER), 'README': f'configs/{folder}/README.md'}
    return {'Collections': [collection], 'Models': models}


def write_model_index() -> List[str]:
    """Write model-index.yml importing every ``configs/*/metafile.yml`` there is; returns the list."""
    metafiles = sorted(p.relative_to(REPO).as_posix() for p in (REPO / 'configs').glob('*/metafile.yml'))
    (REPO / 'model-index.yml').write_text(yaml.safe_dump({'Import': metafiles}, sort_keys=False))
    return metafiles


def main(argv: List[str]) -> None:
    warnings.filterwarnings('ignore')
    folders = [Path(arg).name for arg in argv] or list(FOLDERS)
    unknown = [f for f in folders if f not in FOLDERS]
    if unknown:
        raise SystemExit(f'no collection for {unknown} in FOLDERS of tools/make_metafiles.py')
    for folder in folders:
        text = yaml.safe_dump(folder_metafile(folder), sort_keys=False, width=120, allow_unicode=True)
        (REPO / 'configs' / folder / 'metafile.yml').write_text(HEADER + text)
    print('model-index.yml:', ', '.join(write_model_index()))


if __name__ == '__main__':
    main(sys.argv[1:])
