"""``--cfg-options`` of ``hrnet-mm train`` / ``test``: a key the config does not take ends in one line
(naming the closest key) before any tool starts, ``--dry-run`` builds the model so a value it refuses
does too, and real options still pass."""
from pathlib import Path

import pytest
import torch

from hrnet_mm.cli import main
from hrnet_mm.cli.cfg_options import KeyChecker, arguments_of
from hrnet_mm.testing.cli import one_line_cli_error

REPO = Path(__file__).resolve().parents[2]
# The synthetic demo configs: small models that build in well under a second once imported.
SEG = str(REPO / 'configs' / 'hrnet_seg' / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py')
POSE = str(REPO / 'configs' / 'hrnet_pose' / 'td-hm_hrnetv1-w18s-v2_1xb32-15e_synthetic-128x96.py')
DET = str(REPO / 'configs' / 'hrnet_det' / 'faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256.py')

# What the seg demo config holds, as its file reads: train_cfg=IterBasedTrainLoop(max_iters=...), two
# param_scheduler items (LinearLR, PolyLR), an AdamW optimizer, a LoggerHook and mmengine's
# CheckpointHook (SafeCheckpointHook) among default_hooks, an HRNet backbone, an FCNHead.
TYPOS = [
    # three of the four a new user tried (the fourth, arch=w99, is a value: tested below)
    ('train_cfg.max_iter=4', 'train_cfg.max_iter: no such key; did you mean train_cfg.max_iters?'),
    ('trian_cfg.max_iters=4', 'trian_cfg.max_iters: no such key; did you mean train_cfg.max_iters?'),
    ('model.backbone.archh=w18', 'model.backbone.archh: no such key; did you mean model.backbone.arch?'),
    # a list index past the end, and a list addressed as a dict
    ('param_scheduler.2.end=10', 'param_scheduler.2.end: no such key; the list param_scheduler has 2 items (0..1)'),
    ('param_scheduler.end=10', 'param_scheduler.end: no such key; param_scheduler is a list: address an item by '
                               'its index, e.g. param_scheduler.0.end'),
    # an optimizer argument (torch's AdamW), a hook option (LoggerHook), one of a hook taking **kwargs
    ('optim_wrapper.optimizer.weight_decy=0.1',
     'optim_wrapper.optimizer.weight_decy: no such key; did you mean optim_wrapper.optimizer.weight_decay?'),
    ('default_hooks.logger.intervall=5',
     'default_hooks.logger.intervall: no such key; did you mean default_hooks.logger.interval?'),
    ('default_hooks.checkpoint.max_keep_ckpt=2',
     'default_hooks.checkpoint.max_keep_ckpt: no such key; did you mean default_hooks.checkpoint.max_keep_ckpts?'),
    # FCNHead passes **kwargs on to BaseDecodeHead, which takes channels
    ('model.decode_head.chanels=4', 'model.decode_head.chanels: no such key; did you mean model.decode_head.channels?'),
    # a key of the right name in the wrong place
    ('optimizer.lr=0.1', 'optimizer.lr: no such key; did you mean optim_wrapper.optimizer.lr?'),
    # a runner-level dict without type, and a top-level key the runner reads (not in the config)
    ('env_cfg.cudnn_benchmrk=True', 'env_cfg.cudnn_benchmrk: no such key; did you mean env_cfg.cudnn_benchmark?'),
    ('env_cfg.benchmark=True', 'env_cfg.benchmark: no such key; did you mean env_cfg.cudnn_benchmark?'),
    ('env_cfg.gpu_ids=[0]', 'env_cfg.gpu_ids: no such key (neither in the config nor a key mmengine reads there)'),
    ('model_wraper_cfg.find_unused_parameters=True',
     'model_wraper_cfg.find_unused_parameters: no such key; did you mean model_wrapper_cfg.find_unused_parameters?'),
    # a bad value for a model argument: the model's own error, from building it
    ('model.backbone.frozen_stages=7', 'the model does not build with --cfg-options model.backbone.frozen_stages=7: '
                                       'frozen_stages must be an int in -1..4, got 7'),
    ('model.backbone.in_channels=0', 'the model does not build with --cfg-options model.backbone.in_channels=0: '
                                     'in_channels must be a positive int'),
]


@pytest.mark.parametrize('option, expected', TYPOS, ids=[option for option, _ in TYPOS])
def test_a_key_or_value_the_config_does_not_take_is_one_line(option, expected, capsys):
    err = one_line_cli_error(['train', SEG, '--dry-run', '--cfg-options', option], capsys)
    prefix = 'hrnet-mm train: ' if expected.startswith('the model') else 'hrnet-mm train: --cfg-options '
    assert err.startswith(prefix + expected), err


def test_a_value_the_model_refuses_is_named_from_its_own_error(capsys):
    err = one_line_cli_error(['train', SEG, '--dry-run', '--cfg-options', 'model.backbone.arch=w99'], capsys)
    assert err.startswith('hrnet-mm train: the model does not build with --cfg-options model.backbone.arch=w99: '
                          'arch must be one of ')  # HRNet's own words, no mmengine "class `X` in ..." prefixes
    assert err.endswith("got 'w99'")


def test_the_test_command_checks_its_options_too(tmp_path, capsys):
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': {'w': torch.ones(3)}, 'meta': {}}, checkpoint)
    err = one_line_cli_error(['test', SEG, str(checkpoint), '--dry-run', '--cfg-options',
                              'test_dataloader.batch_size=1', 'test_dataloader.batch_sizes=1'], capsys)
    assert err == ('hrnet-mm test: --cfg-options test_dataloader.batch_sizes: no such key; did you mean '
                   'test_dataloader.batch_size?')


def test_the_test_command_builds_the_model_once_and_names_a_refused_value(tmp_path, capsys, monkeypatch):
    import hrnet_mm.apis
    from hrnet_mm.apis import build_model
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': build_model(SEG)[0].state_dict(), 'meta': {}}, checkpoint)
    builds = []
    monkeypatch.setattr(hrnet_mm.apis, 'build_model', lambda *a, **k: builds.append(1) or build_model(*a, **k))
    assert main(['test', SEG, str(checkpoint), '--dry-run']) == 0, capsys.readouterr().err
    assert len(builds) == 1  # for the checkpoint's fit, which is also the dry run's build
    err = one_line_cli_error(['test', SEG, str(checkpoint), '--dry-run', '--cfg-options',
                              'model.backbone.arch=w99'], capsys)
    assert err.startswith('hrnet-mm test: the model does not build with --cfg-options model.backbone.arch=w99: '
                          'arch must be one of ') and err.endswith("got 'w99'")


def test_typos_are_caught_without_dry_run_too(tmp_path, capsys):
    err = one_line_cli_error(['train', SEG, '--work-dir', str(tmp_path), '--cfg-options', 'trian_cfg.max_iters=4'],
                             capsys)
    assert 'did you mean train_cfg.max_iters?' in err
    assert not list(tmp_path.iterdir())  # nothing ran


@pytest.mark.parametrize('config, option, expected', [
    # mmpose's train_cfg has no type: mmengine picks EpochBasedTrainLoop, whose argument is max_epochs
    (POSE, 'train_cfg.max_epoch=1', 'train_cfg.max_epoch: no such key; did you mean train_cfg.max_epochs?'),
    (DET, 'model.roi_head.bbox_head.num_clases=3',
     'model.roi_head.bbox_head.num_clases: no such key; did you mean model.roi_head.bbox_head.num_classes?'),
])
def test_typos_in_pose_and_detection_configs(config, option, expected, capsys):
    err = one_line_cli_error(['train', config, '--dry-run', '--cfg-options', option], capsys)
    assert err == 'hrnet-mm train: --cfg-options ' + expected


LEGITIMATE = {
    'in the config': ['train_cfg.max_iters=4', 'train_dataloader.batch_size=2', 'optim_wrapper.optimizer.lr=0.01',
                      'default_hooks.checkpoint.max_keep_ckpts=2', 'param_scheduler.1.end=4'],
    'class arguments the config leaves out': [
        'model.backbone.norm_eval=True', 'model.backbone.with_cp=True', 'model.decode_head.ignore_index=255',
        'model.backbone.norm_cfg.momentum=0.01', 'train_cfg.val_begin=2', 'default_hooks.logger.ignore_last=False'],
    'lists replaced without _delete_': ['val_evaluator.iou_metrics=[mIoU,mDice]',
                                        'model.decode_head.in_index=[0,1,2,3]'],
    'below a class argument the config leaves out': ['model.backbone.init_cfg.type=Pretrained',
                                                     'model.backbone.init_cfg.checkpoint=weights.pth'],
    'a type switched, with its own arguments': ['optim_wrapper.optimizer.type=SGD',
                                                'optim_wrapper.optimizer.momentum=0.9'],
    'what builders and mmengine read': [
        'param_scheduler.0.convert_to_iter_based=True', 'default_hooks.logger.priority=NORMAL',
        'model.backbone.norm_cfg.requires_grad=False', 'optim_wrapper.paramwise_cfg.norm_decay_mult=0',
        'env_cfg.resource_limit=4096', 'env_cfg.dist_cfg.timeout=1800', 'randomness.deterministic=True',
        'train_dataloader.pin_memory=True', 'load_from=weights.pth', 'model_wrapper_cfg.find_unused_parameters=True',
        'log_processor.window_size=20'],
    'new keys of a dict without type': ['model.test_cfg.mode=slide', 'model.test_cfg.crop_size=(128,128)',
                                        'model.test_cfg.stride=(85,85)'],
}


@pytest.mark.parametrize('kind', sorted(LEGITIMATE))
def test_real_options_pass_the_dry_run(kind, capsys):
    options = LEGITIMATE[kind]
    assert main(['train', SEG, '--dry-run', '--cfg-options', *options]) == 0, capsys.readouterr().err
    command = capsys.readouterr().out
    assert all(option in command for option in options)  # handed to the stock tool as given


def test_real_pose_and_detection_options_pass(capsys):
    pose = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'train_cfg.val_begin=1',
            'default_hooks.checkpoint.interval=1', 'model.test_cfg.flip_test=False', 'codec.sigma=3']
    assert main(['train', POSE, '--dry-run', '--cfg-options', *pose]) == 0, capsys.readouterr().err
    det = ['train_cfg.max_iters=2', 'model.test_cfg.rcnn.max_per_img=50', 'model.rpn_head.anchor_generator.scales=[4]',
           'model.train_cfg.rpn.assigner.pos_iou_thr=0.6', 'model.backbone.norm_eval=False']
    assert main(['train', DET, '--dry-run', '--cfg-options', *det]) == 0, capsys.readouterr().err


def test_dry_run_builds_the_model_without_options(tmp_path, capsys):
    config = tmp_path / 'wide.py'
    config.write_text(f"_base_ = '{SEG}'\nmodel = dict(backbone=dict(arch='w17'))\n")
    err = one_line_cli_error(['train', str(config), '--dry-run'], capsys)
    assert err.startswith('hrnet-mm train: the model does not build from wide.py: arch must be one of')
    assert err.endswith("got 'w17'")  # kept, however long the list of archs before it


class _Base:
    def __init__(self, depth, *, width=1):
        self.depth, self.width = depth, width


class _Passing(_Base):
    def __init__(self, extra=0, **kwargs):
        super().__init__(**kwargs)


def _factory(*args, **kwargs) -> _Base:
    return _Base(*args, **kwargs)


def test_arguments_follow_kwargs_up_the_bases_and_factories_to_their_class():
    assert arguments_of(_Base) == ({'depth', 'width'}, False)
    assert arguments_of(_Passing) == ({'extra', 'depth', 'width'}, True)  # **kwargs may reach more than _Base
    assert arguments_of(_factory) == ({'depth', 'width'}, True)


def test_keys_beside_a_type_follow_a_type_the_options_set():
    config = {'default_scope': 'mmseg', 'optim_wrapper': {'type': 'OptimWrapper',
                                                          'optimizer': {'type': 'SGD', 'lr': 0.1}}}
    assert 'betas' in KeyChecker(config, 'mmseg').problem('optim_wrapper.optimizer.betas')  # torch's SGD: no betas
    switched = KeyChecker(config, 'mmseg', new_types={'optim_wrapper.optimizer': 'Adam'})
    assert switched.problem('optim_wrapper.optimizer.betas') is None
