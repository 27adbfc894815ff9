"""Programmatic API: the per-library table, building config models, export and inference."""
from .build import build_model, load_config, replace_syncbn
from .export import ExportWrapper, export_onnx, run_onnx
from .inference import infer_pose
from .libraries import LIBRARIES, Library, library_of

__all__ = ['LIBRARIES', 'Library', 'library_of', 'build_model', 'load_config', 'replace_syncbn',
           'ExportWrapper', 'export_onnx', 'run_onnx', 'infer_pose']
