"""Names and defaults that ``hrnet-mm --help`` shows, kept apart from the code that needs torch.

Standard library only, so that every command's help and usage errors come without importing torch or
mmcv. The modules that act on them import them from here.
"""
# hrnet_mm.apis.runtime: the engines that run an exported model; what runs when none is named is the
# first installed, fastest first (measured, docs/deploy.md).
ENGINES = ('onnxruntime', 'openvino')
FASTEST_FIRST = ('openvino', 'onnxruntime')

# hrnet_mm.apis.export
EXPORT_FORMATS = ('onnx',)
DEFAULT_OPSET = 17
# Largest |onnxruntime - PyTorch| accepted, as a fraction of the output's largest |value|. Float32
# rounding through ~300 convs (and BN folding) is measured at ~1e-6 of the scale (detector features
# reaching ~20 differ by ~1e-4 in absolute terms); 1e-4 leaves margin and still catches a wrong graph.
DEFAULT_RTOL = 1e-4

# hrnet_mm.apis.quantize
DEFAULT_CALIB = 32
CALIB_METHODS = ('minmax', 'percentile', 'entropy')

# hrnet_mm.apis.images
DEFAULT_MAX_PIXELS = 100_000_000  # a 10000 x 10000 image; 300 MB decoded as 8-bit BGR
MAX_PIXELS_ENV = 'HRNET_MM_MAX_IMAGE_PIXELS'

# hrnet_mm.convert: the code bases `--from` names
LAYOUTS = ('timm', 'msra', 'mmpretrain')

# hrnet_mm.checkpoint.saving: what a release is written as
CHECKPOINT_FORMATS = ('pth', 'safetensors')
