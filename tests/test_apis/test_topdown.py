"""``hrnet-mm infer-pose`` / :mod:`hrnet_mm.apis.topdown`: boxes from flags, files and detectors, crops in
batches, keypoints equal to MMPoseInferencer's given the same boxes, exported files, one-line mistakes."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from hrnet_mm.apis import export_onnx, infer_pose
from hrnet_mm.apis import topdown as topdown_module
from hrnet_mm.apis.topdown import BoxFile, GivenBoxes, Person, TopdownPose, draw_people, image_sizes
from hrnet_mm.cli import main
from hrnet_mm.errors import InputError
from hrnet_mm.testing.cli import one_line_cli_error
from hrnet_mm.testing.exports import save_random_checkpoint

REPO = Path(__file__).resolve().parents[2]
POSE = str(REPO / 'configs/hrnet_pose/td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py')
DET = str(REPO / 'configs/hrnet_det/faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256.py')
# x, y, w, h per image: overlapping, partly outside, the whole image; scores all differ, so that
# the inferencer's score-sorted order is known
BOXES = {'000000000007.png': [(10, 20, 60, 80), (50, 5, 90, 100), (-15, 60, 70, 90)],
         'street.png': [(0, 0, 160, 120), (100, 30, 40, 70)]}
SCORES = [0.9, 0.8, 0.7]


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Two 160x120 images, a random-weight checkpoint of the small pose demo and its dynamic ONNX export."""
    root = tmp_path_factory.mktemp('topdown')
    rng = np.random.default_rng(0)
    images = []
    for name in BOXES:
        pixels = cv2.GaussianBlur((rng.random((120, 160, 3)) * 255).astype(np.uint8), (5, 5), 2)
        images.append(root / name)
        cv2.imwrite(str(images[-1]), pixels)
    checkpoint = save_random_checkpoint(POSE, root / 'pose.pth')
    onnx = export_onnx(POSE, checkpoint, root / 'pose.onnx', (1, 3, 128, 96), dynamic=True)
    return dict(root=root, images=images, checkpoint=checkpoint, onnx=onnx)


def _detections(images):
    return [dict(image_id=path.stem, bbox=list(box), score=score, category_id=1)
            for path in images for box, score in zip(BOXES[path.name], SCORES)]


def _by_box(people):
    """Keypoints and scores keyed by (image name, box corners): the inferencer sorts boxes by score."""
    return {(Path(p['image']).name, tuple(np.round(np.ravel(p['bbox']), 3))):
            (np.asarray(p['keypoints']), np.asarray(p['keypoint_scores'])) for p in people}


def _mmpose_inferencer(checkpoint, detections):
    """MMPoseInferencer whose detector returns the given boxes (mmpose 1.3.2 drops a ``bboxes=`` argument)."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    from mmpose.apis import MMPoseInferencer
    inferencer = MMPoseInferencer(pose2d=POSE, pose2d_weights=checkpoint, det_model='whole_image', device='cpu')

    def detector(image, **kwargs):
        dets = [d for d in detections if d['image_id'] == Path(image).stem]
        xywh = np.array([d['bbox'] for d in dets], np.float32)
        sample = DetDataSample()
        sample.pred_instances = InstanceData(bboxes=torch.from_numpy(np.concatenate([xywh[:, :2], xywh[:, :2] +
                                                                                   xywh[:, 2:]], 1)),
                                             scores=torch.tensor([d['score'] for d in dets]),
                                             labels=torch.zeros(len(dets), dtype=torch.long))
        return dict(predictions=[sample])
    inferencer.inferencer.detector = detector
    inferencer.inferencer.det_cat_ids = (0,)
    return inferencer


@pytest.fixture(scope='module')
def inferencer(files):
    """One MMPoseInferencer on the checkpoint, its detector returning the boxes of :data:`BOXES`."""
    return _mmpose_inferencer(files['checkpoint'], _detections(files['images']))


def _theirs(inferencer, images, tmp_path):
    people = []
    for path, result in zip(images, inferencer([str(p) for p in images], out_dir=str(tmp_path / 'mmpose'),
                                               nms_thr=1.0, bbox_thr=0.0)):  # no box NMS: every box is kept
        people += [dict(image=str(path), bbox=p['bbox'][0], keypoints=p['keypoints'],
                        keypoint_scores=p['keypoint_scores']) for p in result['predictions'][0]]
    return people


def _assert_same(got, expected, px, score):
    got, expected = _by_box(got), _by_box(expected)
    assert got.keys() == expected.keys()
    for key, (keypoints, scores) in expected.items():
        np.testing.assert_allclose(got[key][0], keypoints, rtol=0, atol=px, err_msg=str(key))
        np.testing.assert_allclose(got[key][1], scores, rtol=0, atol=score, err_msg=str(key))


def test_keypoints_equal_mmpose_inferencer_given_the_same_boxes(files, inferencer, tmp_path):
    images = files['images']
    detections = _detections(images)
    theirs = _theirs(inferencer, images, tmp_path)
    box_file = tmp_path / 'boxes.json'
    box_file.write_text(json.dumps(detections))
    # batch 2: the crops of both images share batches, a batch spans two images
    ours = infer_pose(POSE, files['checkpoint'], images, tmp_path / 'ours', boxes=BoxFile(box_file), batch_size=2)
    assert len(ours) == len(theirs) == 5
    _assert_same(ours, theirs, px=1e-3, score=1e-5)
    # in the images' and the file's order, each with the file's image_id and score
    assert [(Path(p['image']).name, p['image_id'], p['bbox_score']) for p in ours] == \
        [(path.name, path.stem, pytest.approx(s)) for path in images for s in SCORES[:len(BOXES[path.name])]]
    results = json.loads((tmp_path / 'ours' / 'keypoints.json').read_text())
    assert [r['image_id'] for r in results] == [p['image_id'] for p in ours]
    first = results[0]
    assert first['bbox'] == [10, 20, 60, 80] and first['category_id'] == 1 and len(first['keypoints']) == 17 * 3
    scores = np.asarray(ours[0]['keypoint_scores'])
    assert first['score'] == pytest.approx(0.9 * scores[scores > 0.2].mean(), rel=1e-6)  # CocoMetric's rescoring
    assert sorted(p.name for p in (tmp_path / 'ours' / 'visualizations').iterdir()) == sorted(BOXES)


def test_the_whole_image_is_the_box_by_default_as_before(files, inferencer, tmp_path, monkeypatch):
    images = files['images']
    monkeypatch.setattr(inferencer.inferencer, 'detector', None)  # MMPoseInferencer(det_model='whole_image')
    theirs = _theirs(inferencer, images, tmp_path)
    ours = infer_pose(POSE, files['checkpoint'], images, tmp_path)
    assert [p['bbox'] for p in ours] == [[0, 0, 160, 120]] * 2
    _assert_same(ours, theirs, px=1e-3, score=1e-5)


def test_an_exported_file_gives_the_same_keypoints(files, tmp_path):
    images = files['images']
    boxes = GivenBoxes(BOXES['000000000007.png'])
    torch_people = infer_pose(POSE, files['checkpoint'], images, tmp_path / 'torch', boxes=boxes)
    onnx_people = infer_pose(POSE, files['onnx'], images, tmp_path / 'onnx', boxes=boxes, batch_size=4)
    _assert_same(onnx_people, torch_people, px=1e-2, score=1e-4)


def test_a_file_that_fixes_the_batch_runs_other_batches_in_chunks():
    class Engine:  # fixes batch 3; doubles its input, so that a padded row would show
        input_shape = (3, 1, None, None)
        calls = []

        def __call__(self, x):
            self.calls.append(x.shape[0])
            return [x * 2]
    engine = Engine()
    chunked = topdown_module._FixedBatch(engine)
    x = torch.arange(7.0).reshape(7, 1, 1, 1)
    (out,) = chunked(x)
    assert engine.calls == [3, 3, 3] and torch.equal(out, x * 2)  # 3 + 3 + 1 padded with 2 zero rows
    assert torch.equal(chunked(x[:3])[0], x[:3] * 2) and engine.calls[-1] == 3


def test_box_flags_and_box_files_in_either_coco_form_agree(files, tmp_path, capsys):
    image = files['images'][0]  # 000000000007.png: COCO's numbering, image_id 7
    boxes = BOXES[image.name]
    base = ['infer-pose', POSE, files['checkpoint'], str(image)]
    flags = ['--box=' + ','.join(str(v) for v in box) for box in boxes]  # '=': a box may start with '-'
    assert main([*base, *flags, '--out-dir', str(tmp_path / 'flags')]) == 0
    assert '3 person(s) in 1 image(s)' in capsys.readouterr().out
    detections = [dict(image_id=7, bbox=list(b)) for b in boxes]  # no score, no category: 1 and person
    (tmp_path / 'list.json').write_text(json.dumps(detections + [dict(image_id=8, bbox=[0, 0, 5, 5])]))
    coco = dict(images=[dict(id=3, file_name='sub/000000000007.png')],
                annotations=[dict(d, image_id=3, category_id=1) for d in detections] +
                [dict(image_id=3, bbox=[0, 0, 50, 50], category_id=2)])  # another category: dropped
    (tmp_path / 'coco.json').write_text(json.dumps(coco))
    for name, extra in (('list', []), ('coco', ['--boxes-cat-id', '1'])):
        assert main([*base, '--boxes', str(tmp_path / f'{name}.json'), *extra, '--out-dir', str(tmp_path / name)]) == 0
    results = {name: json.loads((tmp_path / name / 'keypoints.json').read_text()) for name in ('flags', 'list', 'coco')}
    assert [r['image_id'] for r in results['flags']] == [7] * 3 and [r['image_id'] for r in results['coco']] == [3] * 3
    for name in ('list', 'coco'):
        assert [dict(r, image_id=7) for r in results[name]] == results['flags'], name


def test_a_box_file_refuses_namesakes_only_where_an_entry_names_them(files, tmp_path):
    image = files['images'][1]
    namesake = tmp_path / image.name
    namesake.write_bytes(image.read_bytes())
    (tmp_path / 'boxes.json').write_text(json.dumps([dict(image_id='street.png', bbox=[1, 2, 30, 40])]))
    with pytest.raises(InputError, match=f"images {image} and {namesake} both match image_id 'street.png'"):
        BoxFile(tmp_path / 'boxes.json').prepare([image, namesake], image_sizes([image, namesake]))
    other = files['images'][0]
    source = BoxFile(tmp_path / 'boxes.json')
    source.prepare([image, other], image_sizes([image, other]))
    assert len(source(image, None)) == 1 and len(source(other, None)) == 0  # type: ignore[arg-type]


def _detector(tmp_path):
    """The synthetic Faster R-CNN keeping 3 boxes per image, with weights that make boxes: every anchor an
    object (random weights find none above mmdet's score threshold), label 0 the likeliest class."""
    from hrnet_mm.apis import build_model
    config = tmp_path / 'det.py'
    config.write_text(f"_base_ = ['{DET}']\nmodel = dict(test_cfg=dict(rcnn=dict(max_per_img=3)))\n")
    torch.manual_seed(0)
    model, _, _ = build_model(str(config))
    with torch.no_grad():
        for name in ('rpn_head.rpn_cls', 'rpn_head.rpn_reg', 'roi_head.bbox_head.fc_cls', 'roi_head.bbox_head.fc_reg'):
            layer = model.get_submodule(name)
            layer.weight.zero_()
            layer.bias.zero_()
        model.rpn_head.rpn_cls.bias.fill_(3.0)
        model.roi_head.bbox_head.fc_cls.bias[0] = 4.0
    torch.save(dict(state_dict=model.state_dict(), meta={}), tmp_path / 'det.pth')
    return str(config), str(tmp_path / 'det.pth')


def test_a_detector_config_gives_the_boxes(files, tmp_path, capsys):
    det_config, det_checkpoint = _detector(tmp_path)
    image = files['images'][1]
    base = ['infer-pose', POSE, files['checkpoint'], str(image), '--det-config', det_config, '--det-checkpoint',
            det_checkpoint, '--out-dir', str(tmp_path)]
    assert main([*base, '--bbox-thr', '0.5']) == 0
    people = json.loads((tmp_path / 'keypoints.json').read_text())
    # mmdet's own answer for the same image: its boxes of label 0
    from mmdet.apis import inference_detector, init_detector
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = init_detector(det_config, det_checkpoint, device='cpu')
        model.cfg.test_dataloader.dataset.pipeline = [s for s in model.cfg.test_dataloader.dataset.pipeline
                                                      if s['type'] != 'LoadAnnotations']
        found = inference_detector(model, str(image)).pred_instances
    boxes = found.bboxes[(found.labels == 0) & (found.scores > 0.5)].numpy()
    assert len(people) == len(boxes) == 3
    np.testing.assert_allclose([p['bbox'] for p in people],
                               np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1), atol=1e-3)
    capsys.readouterr()
    assert main([*base, '--bbox-thr', '0.99']) == 0  # nothing that sure: the image gets no people
    out = capsys.readouterr().out
    assert f'{image}: no boxes of label 0 above --bbox-thr 0.99' in out and '0 person(s)' in out
    assert json.loads((tmp_path / 'keypoints.json').read_text()) == []


def test_batches_stay_within_the_batch_size_and_the_pending_pixels(files, tmp_path, monkeypatch):
    images = files['images'] * 3
    predictor = TopdownPose(POSE, files['checkpoint'], batch_size=4)
    sizes = []
    predict = predictor.predict
    predictor.predict = lambda packed: sizes.append(len(packed)) or predict(packed)  # type: ignore[method-assign]
    boxes = GivenBoxes(BOXES['000000000007.png'])
    boxes.prepare(images, image_sizes(images))
    results = list(predictor(images, boxes))
    assert sizes == [4, 4, 4, 4, 2] and [r.path for r in results] == images
    # decoded images waiting for a batch are bounded: over the bound, the queued crops run at once
    monkeypatch.setattr(topdown_module, 'PENDING_PIXELS', 160 * 120)
    sizes.clear()
    again = list(predictor(images, boxes))
    assert sizes == [4, 2] * 3
    for a, b in zip(results, again):
        for p, q in zip(a.people, b.people):
            np.testing.assert_allclose(p.keypoints, q.keypoints, atol=1e-3)


def test_the_drawing_shows_keypoints_above_the_threshold_only():
    pixels = np.zeros((100, 100, 3), np.uint8)
    person = Person([0, 0, 100, 100], 1.0, 1, np.array([[20.0, 20.0], [80.0, 80.0]]), np.array([0.9, 0.1]))
    drawn = draw_people(pixels, [person], dict(skeleton_links=[(0, 1)], keypoint_colors=[[255, 0, 0]] * 2), 0.3)
    assert drawn[20, 20].tolist() == [0, 0, 255]  # mmpose's RGB colours, drawn in BGR
    assert not drawn[80, 80].any() and not drawn[50, 50].any()  # the other end is below: no link either
    assert not pixels.any()  # drawn on a copy


MISTAKES = [  # (options, box file text or None, what the line says)
    (['--box', '1,2,3'], None, 'argument --box: a box is x,y,w,h (four numbers)'),
    (['--box', '1,2,0,5'], None, 'width and height > 0'),
    (['--box', '170,10,20,20'], None, 'outside image'),
    (['--boxes', 'FILE', '--box', '1,2,3,4'], None, 'not allowed with argument'),
    (['--det-config', DET], None, '--det-config and --det-checkpoint go together'),
    (['--det-config', POSE, '--det-checkpoint', 'CKPT'], None, f'detector config {POSE} is an mmpose config'),
    (['--boxes', 'FILE'], None, 'bad.json does not exist'),
    (['--boxes', 'FILE'], '{"images": []}', 'must hold "images" and "annotations" lists'),
    (['--boxes', 'FILE'], '[{"image_id": "street"}]', 'entry 0 needs "image_id" and "bbox"'),
    (['--boxes', 'FILE'], '[{"image_id": "street", "bbox": [1, 2, "3", 4]}]', 'entry 0: bbox must be [x, y, w, h]'),
    (['--boxes', 'FILE'], '[{"image_id": "street", "bbox": [1, 2, 3, 4], "score": NaN}]',
     'entry 0: score must be a finite number'),
    (['--boxes', 'FILE'], '[{"image_id": "street", "bbox": [500, 2, 3, 4]}]', 'lies outside image'),
    (['--boxes', 'FILE'], '[{"image_id": "elsewhere", "bbox": [1, 2, 3, 4]}]',
     "no entry belongs to the images given (image_id 'elsewhere'"),
    (['--boxes', 'FILE'], '[{"image_id": ', 'not JSON'),
]


@pytest.mark.parametrize('extra, text, expected', MISTAKES, ids=[f'{i}' for i in range(len(MISTAKES))])
def test_mistakes_end_in_one_line_before_anything_is_written(extra, text, expected, files, tmp_path, capsys):
    if text is not None:
        (tmp_path / 'bad.json').write_text(text)
    extra = [{'FILE': str(tmp_path / 'bad.json'), 'CKPT': files['checkpoint']}.get(a, a) for a in extra]
    argv = ['infer-pose', POSE, files['checkpoint'], str(files['images'][1]), '--out-dir', str(tmp_path / 'out'),
            *extra]
    err = one_line_cli_error(argv, capsys)
    assert err.startswith('hrnet-mm infer-pose') and expected in err, err
    assert not (tmp_path / 'out').exists()


def test_bottom_up_configs_are_refused(files, capsys):
    config = 'mmpose::body_2d_keypoint/associative_embedding/coco/ae_hrnet-w32_8xb24-300e_coco-512x512.py'
    err = one_line_cli_error(['infer-pose', config, files['checkpoint'], str(files['images'][0])], capsys)
    assert 'is a BottomupPoseEstimator model; infer-pose runs top-down pose models' in err
