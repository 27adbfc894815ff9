"""The synthetic faces (hrnet_mm/synthetic/face_data.py) and the face demo config, trained briefly by mmpose."""
import json
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from hrnet_mm.synthetic import face_data

REPO = Path(__file__).resolve().parents[2]
DEMO = next((REPO / 'configs' / 'hrnet_face').glob('td-hm_hrnetv2-w18s-v1_*_synthetic-*.py'))


@pytest.fixture(scope='module')
def faces(tmp_path_factory) -> Path:
    return face_data.generate(str(tmp_path_factory.mktemp('face_data')), train=128, val=16, seed=0)


def face_cfg(data_root: Path, work_dir: Path, max_epochs: int) -> Config:
    cfg = Config.fromfile(str(DEMO))
    cfg.work_dir = str(work_dir)
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = str(data_root)
        loader.num_workers, loader.persistent_workers = 0, False
    cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = max_epochs
    cfg.param_scheduler[0].end = 4  # warm-up iterations: a short run has few
    cfg.param_scheduler[1].end = cfg.param_scheduler[1].T_max = max_epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=max_epochs)
    return cfg


def test_the_faces_mirror_with_300w_flip_pairs():
    import mmpose
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    metainfo = Path(mmpose.__file__).parent / '.mim/configs/_base_/datasets/300w.py'
    meta = parse_pose_metainfo(dict(from_file=str(metainfo)))
    assert face_data.flip_indices() == meta['flip_indices']
    rng = np.random.default_rng(3)
    shape, side, _ = face_data._random_shape(rng)
    frontal = face_data.face_landmarks(shape, side, side)  # one expression on both sides: a symmetric face
    mirrored = frontal[meta['flip_indices']] * np.array([-1, 1, 1])
    np.testing.assert_allclose(mirrored, frontal, atol=1e-12)


def test_the_generator_writes_mmpose_300w_annotations(faces, tmp_path):
    from mmengine.registry import DefaultScope
    from mmpose.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmpose'):
        data = DATASETS.build(dict(type='Face300WDataset', data_root=str(faces), data_mode='topdown', test_mode=True,
                                   ann_file='annotations/face_landmarks_300w_val.json',
                                   data_prefix=dict(img='images/val/'), pipeline=[]))
    assert len(data) == 16 and data.metainfo['num_keypoints'] == 68
    for info in (data[i] for i in range(len(data))):
        keypoints, size = info['keypoints'][0], info['bbox_scale'][0, 0]
        assert keypoints.shape == (68, 2) and ((keypoints > 0) & (keypoints < face_data.IMAGE_SIZE)).all()
        # the box (scale * 200) is the landmarks' extent, the eyes' outer corners well apart
        assert size == pytest.approx((keypoints.max(0) - keypoints.min(0)).max(), rel=1e-3)
        assert np.linalg.norm(keypoints[36] - keypoints[45]) > 0.25 * size
    visibility = [v for ann in json.loads((faces / 'annotations/face_landmarks_300w_train.json').read_text())[
        'annotations'] for v in ann['keypoints'][2::3]]
    assert set(visibility) == {1, 2}  # some landmarks under occluders
    again = face_data.generate(str(tmp_path / 'again'), train=128, val=16, seed=0)
    assert (again / 'annotations/face_landmarks_300w_val.json').read_text() == (
        faces / 'annotations/face_landmarks_300w_val.json').read_text()


def test_short_face_training_lowers_the_loss_and_the_nme(faces, tmp_path):
    # 10 epochs of 4 iterations; measured: NME 1.53 untrained, 0.141 after, last losses 0.45 of the first.
    untrained = Runner.from_cfg(face_cfg(faces, tmp_path / 'untrained', max_epochs=10)).val()['NME']
    runner = Runner.from_cfg(face_cfg(faces, tmp_path, max_epochs=10))
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert losses[-4:].mean() < 0.65 * losses[:4].mean()
    nme = runner.message_hub.get_scalar('val/NME').current()
    assert untrained > 0.5 and nme < 0.25, (nme, untrained)
