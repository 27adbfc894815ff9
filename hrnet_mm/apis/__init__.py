"""Programmatic API: the per-library table, building config models, export (float32, int8), engines, inference."""
from .build import build_model, load_config, replace_syncbn
from .export import ExportCheckError, ExportWrapper, export_onnx, run_onnx
from .inference import infer_pose
from .libraries import LIBRARIES, Library, library_of
from .quantize import export_int8, quantize_onnx
from .runtime import ENGINES, attach_engine, engine_model, evaluate, infer_images, open_engine

__all__ = ['LIBRARIES', 'Library', 'library_of', 'build_model', 'load_config', 'replace_syncbn',
           'ExportCheckError', 'ExportWrapper', 'export_onnx', 'run_onnx', 'export_int8', 'quantize_onnx', 'ENGINES',
           'attach_engine', 'engine_model', 'evaluate', 'infer_images', 'open_engine', 'infer_pose']
