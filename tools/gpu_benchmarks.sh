#!/usr/bin/env bash
# The GPU comparisons of docs/benchmarks.md: whole training iterations and inference of our configs
# with cuda_graph=True against the stock configs, same AMP setting, one process per comparison.
# Usage: bash tools/gpu_benchmarks.sh [--iters N] [--dry-run] [OUT_DIR]
#   (needs CUDA; results in OUT_DIR/<name>/iterations.md)
#   --iters N   timed iterations per config and phase (tools/benchmark.py's --iters; default 10)
#   --dry-run   list the comparisons and check that every config they name exists; runs nothing
# A comparison that fails is reported and the others still run; the exit status is then 1.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
ITERS=() DRY_RUN=0 OUT=work_dirs/gpu_benchmarks
while [ $# -gt 0 ]; do
  case $1 in
    --iters) ITERS=(--iters "${2:?--iters needs a number}"); shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -*) echo "gpu_benchmarks: unknown option $1 (options: --iters N, --dry-run)" >&2; exit 2 ;;
    *) OUT=$1; shift ;;
  esac
done
FAILED=() MISSING=() PACKAGED=()
run() {  # name, then benchmark.py arguments
  local name=$1; shift
  if [ "$DRY_RUN" = 1 ]; then
    echo "== $name: $PY tools/benchmark.py --device cuda ${ITERS[*]:+${ITERS[*]} }--out-dir $OUT/$name $*"
    local arg path
    for arg in "$@"; do
      [[ $arg == *=* ]] || continue
      path=${arg#*=}
      if [[ $path == *::* ]]; then PACKAGED+=("$path"); elif [ ! -f "$path" ]; then MISSING+=("$path"); fi
    done
    return 0
  fi
  echo "== $name"
  "$PY" tools/benchmark.py --device cuda "${ITERS[@]}" --out-dir "$OUT/$name" "$@" || FAILED+=("$name")
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
if [ "$DRY_RUN" = 1 ]; then
  # pkg::path is the installed package's .mim/configs/path (how mmengine and tools/benchmark.py read
  # it), looked up without importing the packages.
  FIND_PACKAGED='
import importlib.util, sys
from pathlib import Path
for config in sys.argv[1:]:
    package, _, relative = config.partition("::")
    spec = importlib.util.find_spec(package)
    if spec is None or not (Path(spec.origin).parent / ".mim" / "configs" / relative).is_file():
        print(config)'
  gone=$("$PY" -c "$FIND_PACKAGED" "${PACKAGED[@]}") \
    || { echo "gpu_benchmarks: $PY cannot look up the packaged configs" >&2; exit 1; }
  [ -z "$gone" ] || mapfile -t -O ${#MISSING[@]} MISSING <<< "$gone"
  if [ ${#MISSING[@]} -gt 0 ]; then
    printf 'gpu_benchmarks: missing config: %s\n' "${MISSING[@]}" >&2
    exit 1
  fi
  echo "gpu_benchmarks: every config found (${#PACKAGED[@]} of them in installed packages)"
  exit 0
fi
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "gpu_benchmarks: failed: ${FAILED[*]}" >&2
  exit 1
fi
