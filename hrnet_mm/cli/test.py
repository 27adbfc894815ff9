"""``hrnet-mm test``: evaluate a checkpoint with its library's own ``tools/test.py``, or an exported file."""
import argparse

from hrnet_mm.config_lookup import resolve_config

from .runner import add_common_arguments, checked_config, checked_model, run_tool

DESCRIPTION = """\
Evaluate a checkpoint on the config's test split with the stock tools/test.py of its library
(mmseg, mmpose, mmdet or mmpretrain, read from the config's default_scope); prints the metrics.
The checkpoint is checked (integrity, weights-only, made for the config's model) before the tool
starts.

An .onnx file from `hrnet-mm export` (float32 or int8) is evaluated in this process on the CPU with
--engine, inside the library's own dataloader, test step and evaluator (what the stock tool runs for
a checkpoint), and its metrics are printed as `name: value` lines; nothing is written. A file or
checkpoint made for another model (task, classes / keypoints, image channels, HRNet widths) is
refused in one line before anything runs."""
EPILOG = """\
examples:
  hrnet-mm test hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py work_dirs/seg/iter_800.pth
  hrnet-mm test my_config.py model.pth --show-dir vis     # also save drawn predictions
  hrnet-mm test my_config.py model.pth --gpus 4           # 4 processes (torchrun)
  hrnet-mm test my_config.py model.int8.onnx --engine onnxruntime   # an export, as docs/deploy.md measures it"""


def add_parser(sub) -> None:
    p = sub.add_parser('test', help="evaluate a checkpoint with its library's own tools/test.py",
                       description=DESCRIPTION, epilog=EPILOG)
    p.add_argument('config', help='config file, packaged name (hrnet_seg/<name>.py) or pkg:: name')
    p.add_argument('checkpoint', help='the .pth to evaluate, or an .onnx file exported from it (float32 or int8)')
    p.add_argument('--show-dir', help='save visualized predictions here; a relative path is taken inside the '
                                      'work dir')
    from hrnet_mm.constants import ENGINES

    from .types import positive_int
    p.add_argument('--engine', choices=ENGINES,
                   help='engine of an .onnx file (default: the fastest installed, openvino then onnxruntime)')
    p.add_argument('--threads', type=positive_int, help="engine threads of an .onnx file (default: the engine's)")
    add_common_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hrnet_mm.checkpoint import fetch_checkpoint
    from hrnet_mm.errors import ConfigError
    args.config = resolve_config(args.config)  # a local file, or a packaged one: hrnet_seg/<name>.py
    if is_export(args.checkpoint):
        return evaluate_exported(args)
    if args.engine or args.threads:
        raise ConfigError('--engine and --threads apply to an exported .onnx file; a .pth runs in PyTorch')
    checkpoint = fetch_checkpoint(args.checkpoint)  # a damaged or refused file fails here, in one line
    cfg = checked_config(args)
    check_checkpoint_made_for_config(args, cfg, checkpoint)
    return run_tool(args, 'test', cfg)  # the model was built: a dry run need not build it again


def is_export(path: str) -> bool:
    """Whether ``path`` names an exported model (``.onnx``) rather than a checkpoint."""
    from pathlib import Path
    return Path(path).suffix.lower() == '.onnx'


def check_checkpoint_made_for_config(args: argparse.Namespace, cfg, checkpoint: dict) -> None:
    """Raise :class:`~hrnet_mm.apis.compatibility.ModelMismatchError` for a checkpoint of another model.

    The stock tool would load it with a warning per tensor, or strictly with hundreds of lines, or
    evaluate a model of the wrong task without a word; the model built here (from ``cfg``, what
    :func:`~hrnet_mm.cli.runner.checked_config` returned) is dropped.
    """
    from hrnet_mm.apis.compatibility import check_checkpoint_fits
    from hrnet_mm.checkpoint import unwrap_state_dict
    model = checked_model(cfg, args.config, args.cfg_options or [])
    check_checkpoint_fits(model, unwrap_state_dict(checkpoint, args.checkpoint), args.checkpoint, args.config)


def refuse_tool_options(args: argparse.Namespace) -> None:
    """Raise :class:`~hrnet_mm.errors.ConfigError` for an option only the stock tool's run takes."""
    from hrnet_mm.errors import ConfigError
    given = [flag for flag, used in (('--show-dir', args.show_dir), ('--tensorboard', args.tensorboard),
                                     ('--gpus', args.gpus > 1), ('--nnodes', args.nnodes > 1),
                                     ('--launcher slurm', args.launcher == 'slurm')) if used]
    if given:
        raise ConfigError(f'{", ".join(given)}: an exported file is evaluated in this process on the CPU; '
                          'these options apply to a .pth checkpoint')


def evaluate_exported(args: argparse.Namespace) -> int:
    """Evaluate an exported file on the config's test split and print its metrics (``name: value`` lines)."""
    import numbers

    from hrnet_mm.apis.compatibility import config_name, file_name
    from hrnet_mm.apis.libraries import library_of
    from hrnet_mm.apis.runtime import default_engine, engine_model, evaluate_export
    from hrnet_mm.errors import ConfigError
    refuse_tool_options(args)
    cfg = checked_config(args)
    library = library_of(cfg)
    if library.export_features:
        raise ConfigError(f'{file_name(args.checkpoint)} holds the backbone + neck of a detector, whose heads it '
                          'leaves out; evaluate its .pth checkpoint instead')
    engine = args.engine or default_engine()
    what = f'{file_name(args.checkpoint)} in {engine} on the test split of {config_name(args.config)}'
    if args.dry_run:
        engine_model(cfg, args.checkpoint, engine)  # the file made for the config, opened by the engine
        print(f'[hrnet-mm] would evaluate {what}')
        return 0
    metrics = evaluate_export(cfg, args.checkpoint, engine, threads=args.threads)
    print(f'[hrnet-mm] {what}:')
    for name, value in metrics.items():  # floats with 4 decimals, as mmengine's log processor prints them
        decimal = isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
        print(f'{name}: {value:.4f}' if decimal else f'{name}: {value}')
    return 0
