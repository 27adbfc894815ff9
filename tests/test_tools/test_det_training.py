"""Detection configs trained briefly with mmdet's runner on shared synthetic data (CPU)."""
from pathlib import Path

from mmengine.config import Config
from mmengine.runner import Runner

from hrnet_mm.cli import build_parser
from hrnet_mm.cli.runner import build_command
from hrnet_mm.testing.checkpoints import load_run_checkpoint

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'hrnet_det'
DEMO = CONFIGS / 'faster-rcnn_hrnetv2p-w18s-v2_1xb4-400it_synthetic-256.py'


def use_data(cfg: Config, data_root: Path, work_dir: Path, max_iters: int) -> Config:
    cfg.work_dir = str(work_dir)
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = str(data_root)
        loader.num_workers, loader.persistent_workers = 0, False
    cfg.val_evaluator.ann_file = cfg.test_evaluator.ann_file = str(data_root / 'annotations/instances_val.json')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=max_iters)
    return cfg


def test_short_faster_rcnn_training_lowers_the_loss(det_data, tmp_path):
    cfg = use_data(Config.fromfile(str(DEMO)), det_data, tmp_path, max_iters=30)
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5)]
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.pipeline[2].scale = (192, 192)
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 30 and losses[-6:].mean() < 0.8 * losses[:6].mean(), losses
    assert (tmp_path / 'iter_30.pth').exists()
    assert load_run_checkpoint(tmp_path / 'iter_30.pth')['meta']['iter'] == 30
    # Stock resume through the checked, weights-only loader: optimizer, schedulers and message hub.
    longer = use_data(Config.fromfile(str(DEMO)), det_data, tmp_path, max_iters=32)
    longer.param_scheduler, longer.train_dataloader.batch_size = cfg.param_scheduler, 2
    longer.train_dataloader.dataset.pipeline[2].scale = (192, 192)
    longer.resume = True
    resumed = Runner.from_cfg(longer)
    resumed.train()
    assert resumed.iter == 32 and resumed.optim_wrapper.optimizer.state_dict()['state']
    assert len(resumed.message_hub.get_scalar('train/loss').data[0]) == 32


def test_mask_rcnn_trains_a_few_iterations_from_scratch(det_data, tmp_path):
    cfg = Config.fromfile(str(CONFIGS / 'mask-rcnn_hrnetv2p-w18-1x_coco.py'))
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.norm_eval = False
    cfg.model.roi_head.bbox_head.num_classes = cfg.model.roi_head.mask_head.num_classes = 3
    demo = Config.fromfile(str(DEMO))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                dict(type='Resize', scale=(192, 192), keep_ratio=True), dict(type='PackDetInputs')]
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator', 'test_evaluator'):
        cfg[key] = demo[key]
    cfg.train_dataloader.dataset.pipeline = pipeline
    cfg.train_dataloader.batch_size = 2
    cfg.val_evaluator.metric = cfg.test_evaluator.metric = ['bbox', 'segm']
    cfg.val_dataloader.dataset.pipeline[1] = dict(type='Resize', scale=(192, 192), keep_ratio=True)
    cfg.optim_wrapper = demo.optim_wrapper
    cfg.param_scheduler = []
    runner = Runner.from_cfg(use_data(cfg, det_data, tmp_path, max_iters=3))
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss_mask').data[0]
    assert len(losses) == 3 and all(v > 0 for v in losses)
    assert (tmp_path / 'iter_3.pth').exists()


def test_hrnet_mm_train_resumes_detection_configs(tmp_path):
    args = build_parser().parse_args(['train', str(DEMO), '--work-dir', str(tmp_path), '--resume', 'x.pth'])
    command = build_command(args, 'train')
    assert command[3].endswith('mmdet/.mim/tools/train.py')
    assert command[command.index('--resume') + 1] == 'x.pth'  # mmdet takes the checkpoint after --resume
