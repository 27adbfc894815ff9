"""hrnet_mm.apis.stock_inferencer: the library's own inferencer for the names the hrnet-mm commands take."""
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from hrnet_mm.apis import stock_inferencer
from hrnet_mm.testing.exports import save_random_checkpoint

REPO = Path(__file__).resolve().parents[2]
SEG = 'hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'
POSE = 'hrnet_pose/td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py'


@pytest.fixture(scope='module')
def image(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp('image') / 'scene.png'
    rng = np.random.default_rng(0)
    cv2.imwrite(str(path), cv2.GaussianBlur((rng.random((96, 128, 3)) * 255).astype(np.uint8), (5, 5), 2))
    return str(path)


def test_packaged_seg_name_gives_mmseg_inferencer_equal_to_one_built_from_the_file(tmp_path, image):
    from mmseg.apis import MMSegInferencer
    checkpoint = save_random_checkpoint(str(REPO / 'configs' / SEG), tmp_path / 'seg.pth')
    ours = stock_inferencer(f'hrnet_mm::{SEG}', checkpoint, device='cpu')
    theirs = MMSegInferencer(Config.fromfile(str(REPO / 'configs' / SEG)), checkpoint, device='cpu')
    assert type(ours) is MMSegInferencer
    got, expected = ours(image)['predictions'], theirs(image)['predictions']
    assert got.shape == (96, 128) and np.array_equal(got, expected)


def test_packaged_pose_name_gives_mmpose_inferencer(tmp_path, image):
    from mmpose.apis import MMPoseInferencer
    checkpoint = save_random_checkpoint(str(REPO / 'configs' / POSE), tmp_path / 'pose.pth')
    ours = stock_inferencer(POSE, checkpoint, device='cpu', det_model='whole_image')
    assert type(ours) is MMPoseInferencer
    people = next(ours(image))['predictions'][0]
    assert len(people) == 1 and len(people[0]['keypoints']) == 17  # the whole image is the one box


def test_unknown_name_is_one_line():
    with pytest.raises(FileNotFoundError) as err:
        stock_inferencer('hrnet_seg/no_such_config.py')
    assert '\n' not in str(err.value) and 'no_such_config' in str(err.value)
