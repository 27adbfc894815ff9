#!/usr/bin/env bash
# The GPU comparisons of docs/benchmarks.md: whole training iterations and inference of our configs
# with cuda_graph=True against the stock configs, same AMP setting, one process per comparison.
# Usage: bash tools/gpu_benchmarks.sh [OUT_DIR]   (needs CUDA; results in OUT_DIR/<name>/iterations.md)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-work_dirs/gpu_benchmarks}
PY=${PY:-python}
run() {  # name, then benchmark.py arguments
  local name=$1; shift
  echo "== $name"
  "$PY" tools/benchmark.py --device cuda --out-dir "$OUT/$name" "$@"
}
SEG=configs/hrnet_seg
run seg-w18-train --amp-dtype float16 --batch 2 --size 512 1024 --configs \
  ours="$SEG/fcn_hrnetv2-w18_4xb2-40k_cityscapes-512x1024_cuda-graph-amp.py" \
  ours-eager="$SEG/fcn_hrnetv2-w18_4xb2-40k_cityscapes-512x1024.py" \
  stock=mmseg::hrnet/fcn_hr18_4xb2-40k_cityscapes-512x1024.py
run seg-w48-train --amp-dtype float16 --batch 2 --size 512 1024 --configs \
  ours="$SEG/fcn_hrnetv2-w48_4xb2-40k_cityscapes-512x1024.py" \
  stock=mmseg::hrnet/fcn_hr48_4xb2-40k_cityscapes-512x1024.py
run pose-w32-train --amp-dtype float16 --batch 64 --size 256 192 --configs \
  ours=configs/hrnet_pose/td-hm_hrnetv1-w32_4xb32-210e_coco-256x192_cuda-graph-amp.py \
  stock=mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py
run det-w32-train --amp-dtype float16 --batch 2 --size 800 1344 --configs \
  ours=configs/hrnet_det/faster-rcnn_hrnetv2p-w32-1x_coco_cuda-graph-amp.py \
  stock=mmdet::hrnet/faster-rcnn_hrnetv2p-w32-1x_coco.py
run seg-w18-infer-b1 --batch 1 --size 512 1024 --configs \
  ours="$SEG/fcn_hrnetv2-w18_4xb2-40k_cityscapes-512x1024_cuda-graph-amp.py" \
  stock=mmseg::hrnet/fcn_hr18_4xb2-40k_cityscapes-512x1024.py
run pose-w32-infer-b1 --batch 1 --size 256 192 --configs \
  ours=configs/hrnet_pose/td-hm_hrnetv1-w32_4xb32-210e_coco-256x192_cuda-graph-amp.py \
  stock=mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py
