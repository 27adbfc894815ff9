"""Programmatic API: the per-library table, building config models, export (float32, int8), engines, inference.

The names below are imported from their modules on first access, so that importing a light module of
this package (as the commands' help does) does not import torch.
"""
from importlib import import_module
from typing import Any

_HOME = {
    'build': ('build_checked_model', 'build_model', 'load_config', 'replace_syncbn'),
    'export': ('ExportCheckError', 'ExportWrapper', 'export_onnx', 'run_onnx'),
    'inference': ('infer_pose',),
    'libraries': ('LIBRARIES', 'Library', 'library_of'),
    'quantize': ('export_int8', 'quantize_onnx'),
    'runtime': ('ENGINES', 'attach_engine', 'engine_model', 'evaluate', 'evaluate_export', 'infer_images',
                'open_engine'),
    'stock_inferencers': ('stock_inferencer',),
}
_MODULE_OF = {name: module for module, names in _HOME.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(import_module(f'{__name__}.{_MODULE_OF[name]}'), name)
