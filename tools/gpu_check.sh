#!/usr/bin/env bash
# The whole GPU verification in one run on one CUDA GPU, within 8 minutes (docs/benchmarks.md).
#
# Usage: bash tools/gpu_check.sh [--dry-run] [--timeout PART=SECONDS ...] OUT [PART ...]
#   PART       env cuda ddp demo bench (default: all of them). env always runs first: the other parts
#              need its set-up, and every result is recorded with the card's name.
#   --dry-run  list the parts and their commands, and check that every script, config, test file and
#              command they name exists (with $PY, which must import the stack); runs nothing, writes nothing.
#   --timeout  another limit for one part, e.g. to rerun a part that ran out of time: --timeout cuda=400
#   PY         the Python to use (default: python3).
#
# On the GPU host: `source .gpu/gpu_env.sh && bash tools/gpu_check.sh $OUT`. .gpu/ (outside git: the
# offline host's wheels, an mmcv build with CUDA ops, gpu_env.sh) is prepared on a networked machine and
# travels with the working tree; without the `source`, the env part sources .gpu/gpu_env.sh itself.
#
# Each part runs under its own `timeout` (a hang costs that part, not the run); cuda, ddp and demo run
# side by side (correctness only), bench alone after them (timings). Worst case: env 100 s +
# max(cuda 210, ddp 120, demo 180) s + bench 150 s = 460 s, plus a few seconds of packing.
# OUT receives exactly two files: summary.txt (status and key lines of every part) and logs.tgz (the
# parts' logs and results as text; checkpoints, data and pictures stay in work_dirs/gpu_check/).
set -uo pipefail
CALLER=$PWD
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$SELF")/.."
REPO=$PWD
PY=${PY:-python3}
export PY  # tools/gpu_benchmarks.sh reads it
WORK=${GPU_CHECK_WORK:-$REPO/work_dirs/gpu_check}  # the parts' folders; a relative path is the caller's
[[ $WORK == /* ]] || WORK=$CALLER/$WORK
PARTS=(env cuda ddp demo bench)
PARALLEL=(cuda ddp demo)
declare -A TIMEOUT=([env]=100 [cuda]=210 [ddp]=120 [demo]=180 [bench]=150)
declare -A ABOUT=(
  [env]='the stack (.gpu/gpu_env.sh if it does not import), the card, versions'
  [cuda]='pytest -m cuda, then -m "not cuda", over the test files whose code runs on the GPU'
  [ddp]='torchrun, 1 process, NCCL: 20 iterations of the GPU seg demo config; gradients reach DDP'
  [demo]='the seg demo with its GPU config (cuda_graph=True, fp16) and eagerly (cuda_graph=False), side by side'
  [bench]='tools/gpu_benchmarks.sh --iters 5 (whole iterations vs the stock configs)'
)
DEMO_GPU_CONFIG=configs/hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128_cuda-graph-amp.py
# The test files whose code runs on the GPU when there is one: every file with `cuda`-marked tests,
# and those where the stock runners or tools/benchmark.py pick CUDA by themselves or the CLI builds its
# commands from torch.cuda.is_available(). The multi-process tests (test_multinode.py, the torchrun
# test of test_seg_training.py) pin themselves to CPU: two processes cannot share one GPU under NCCL.
CUDA_TESTS=(
  tests/test_models/test_backbones/test_cuda_graph.py
  tests/test_tools/test_seg_training.py
  tests/test_tools/test_pose_training.py
  tests/test_tools/test_det_training.py
  tests/test_tools/test_cls_training.py
  tests/test_tools/test_face_training.py
  tests/test_tools/test_benchmark.py
  tests/test_tools/test_demo.py
  tests/test_cli/test_runner.py
  tests/test_cli/test_evaluate_exported.py
  tests/test_checkpoint/test_pickle_reader.py
  tests/test_checkpoint/test_canonical.py
  tests/test_checkpoint/test_sources.py
  tests/test_checkpoint/test_config_text.py
  tests/test_configs/test_gpu_configs.py
)
# CPU tests inside those files (two gloo processes), left to the CPU suite.
CPU_ONLY_TESTS=(tests/test_tools/test_seg_training.py::test_two_process_torchrun_training)
# What every part imports; the env part checks it first.
STACK='import torch, mmcv.ops, mmengine, mmseg, mmdet, mmpose, mmpretrain, hrnet_mm'
DEMO_DIFF_MAX=1.0  # mIoU points between the GPU config and eager

die() { echo "gpu_check: $*" >&2; exit 2; }
DRY_RUN=0
PROBLEMS=()

# ----------------------------------------------------------------- the parts
# Each runs in its own process (`--run-part DIR NAME`) under `timeout`, its output in DIR/part.log;
# `note` lines also go to DIR/summary.txt. Under --dry-run the same functions print their commands.
note() { echo "$*"; [ "$DRY_RUN" = 1 ] || echo "$*" >> "$PART_DIR/summary.txt"; }

step() {  # a command of a part; with --dry-run: print it, check its command and the repo paths it names
  if [ "$DRY_RUN" = 1 ]; then
    local shown=() word
    for word in "$@"; do
      case $word in
        *$'\n'*) shown+=('"<python code>"') ;;
        *' '*) shown+=("'$word'") ;;
        *) shown+=("$word") ;;
      esac
    done
    echo "    \$ ${shown[*]}"
    command -v "$1" > /dev/null || PROBLEMS+=("command not found: $1")
    local arg path
    for arg in "$@"; do
      path=${arg#*=}
      path=${path%%::*}  # a test's node id names its file
      case $path in
        tools/*|configs/*|tests|tests/*) [ -e "$path" ] || PROBLEMS+=("missing: $path") ;;
      esac
    done
    return 0
  fi
  "$@"
}

ENV_REPORT="
import importlib, os, platform, sys
print(sys.executable, '| PYTHONPATH', os.environ.get('PYTHONPATH'), flush=True)
$STACK
cuda = torch.cuda.is_available()
print('python', platform.python_version(), '| torch', torch.__version__, '| CUDA', torch.version.cuda, '| cuDNN',
      torch.backends.cudnn.version(), '| NCCL', '.'.join(map(str, torch.cuda.nccl.version())) if cuda else '-')
print(' | '.join(f'{m} {importlib.import_module(m).__version__}' for m in
                 ('numpy', 'mmengine', 'mmcv', 'mmseg', 'mmdet', 'mmpose', 'mmpretrain', 'hrnet_mm')))
if not cuda:
    sys.exit('no CUDA device: torch.cuda.is_available() is False')
print('device:', torch.cuda.get_device_name(0), '| sm_%d%d' % torch.cuda.get_device_capability(0),
      '| %.0f GiB' % (torch.cuda.get_device_properties(0).total_memory / 2**30), '| devices', torch.cuda.device_count())
"

part_env() {
  if [ "$DRY_RUN" = 1 ]; then
    step "$PY" -c "$ENV_REPORT"
    return 0
  fi
  if command -v nvidia-smi > /dev/null; then
    note "nvidia-smi: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"
    nvidia-smi
  else
    note 'nvidia-smi: not on this host (torch names the card below)'
  fi
  local code=0
  "$PY" -c "$ENV_REPORT" > "$PART_DIR/env.txt" 2>&1 || code=$?
  while read -r line; do note "$line"; done < "$PART_DIR/env.txt"
  [ $code = 0 ] || note "env: FAILED: the other parts need the stack and a CUDA device"
  return $code
}

junit_counts() {  # tests, failures, errors, skipped of a pytest junit file
  "$PY" -c "
import sys, xml.etree.ElementTree as E
s = E.parse(sys.argv[1]).getroot()
s = s if s.tag == 'testsuite' else s[0]
print(*(s.get(k) for k in ('tests', 'failures', 'errors', 'skipped')))" "$1"
}

part_cuda() {
  local timeout_flag=()
  # One hung test costs one test (pytest-timeout, where installed), not the part.
  "$PY" -c 'import pytest_timeout' 2> /dev/null && timeout_flag=(--timeout=90)
  local status=0
  step "$PY" -m pytest -rs --continue-on-collection-errors "${timeout_flag[@]}" -m cuda "${CUDA_TESTS[@]}" \
    --junitxml="$PART_DIR/cuda-marked.xml" || status=1
  local deselect=() test
  for test in "${CPU_ONLY_TESTS[@]}"; do deselect+=(--deselect "$test"); done
  step "$PY" -m pytest -rs --continue-on-collection-errors "${timeout_flag[@]}" -m 'not cuda' "${deselect[@]}" \
    "${CUDA_TESTS[@]}" \
    --junitxml="$PART_DIR/cuda-rest.xml" || status=1
  [ "$DRY_RUN" = 1 ] && return 0
  local name counts
  for name in cuda-marked cuda-rest; do
    if [ -f "$PART_DIR/$name.xml" ]; then
      read -r -a counts <<< "$(junit_counts "$PART_DIR/$name.xml")"
      note "$name: ${counts[0]} tests, ${counts[1]} failed, ${counts[2]} errors, ${counts[3]} skipped"
      if [ "${counts[3]}" != 0 ] || { [ $name = cuda-marked ] && [ "${counts[0]}" = 0 ]; }; then
        note "$name: FAILED: on a GPU host every test of these files runs (skip reasons: part.log)"
        status=1
      fi
    else
      note "$name: no junit report (pytest did not finish)"
      status=1
    fi
  done
  grep -E '^(FAILED|ERROR) ' "$PART_DIR/part.log" | head -20 | while read -r line; do note "$line"; done
  return $status
}

part_ddp() {
  local status=0
  step "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 --module hrnet_mm.launch \
    tools/gpu_ddp_check.py --config "$DEMO_GPU_CONFIG" --work-dir "$PART_DIR/run" --iters 20 || status=1
  [ "$DRY_RUN" = 1 ] && return 0
  grep '^ddp check:' "$PART_DIR/part.log" | while read -r line; do note "$line"; done
  return $status
}

part_demo() {
  step "$PY" -c "from hrnet_mm.synthetic.seg_data import generate; generate('data/seg_demo')" || return 1
  # Both runs at once on one card: same config, data and seed; only the backbone's execution differs.
  local pids=() mode status=0
  for mode in graph eager; do
    local options=()
    [ $mode = eager ] && options=(--cfg-options model.backbone.cuda_graph=False)
    if [ "$DRY_RUN" = 1 ]; then
      step "$PY" tools/demo.py seg --config "$DEMO_GPU_CONFIG" --work-dir "$PART_DIR/$mode" "${options[@]}"
    else
      step "$PY" tools/demo.py seg --config "$DEMO_GPU_CONFIG" --work-dir "$PART_DIR/$mode" "${options[@]}" \
        > "$PART_DIR/demo-$mode.log" 2>&1 &
      pids+=($!)
    fi
  done
  [ "$DRY_RUN" = 1 ] && return 0
  local i=0 miou
  declare -A value
  for mode in graph eager; do
    wait "${pids[$i]}" || { note "demo $mode: exit status $? (see demo-$mode.log)"; status=1; }
    i=$((i + 1))
    grep '^\[demo\]' "$PART_DIR/demo-$mode.log" | while read -r line; do note "demo $mode: $line"; done
    miou=$(sed -n 's/^\[demo\] held-out mIoU: \([0-9.]*\).*/\1/p' "$PART_DIR/demo-$mode.log" | tail -1)
    value[$mode]=${miou:-}
  done
  if [ -n "${value[graph]}" ] && [ -n "${value[eager]}" ]; then
    if "$PY" -c "import sys; sys.exit(abs(${value[graph]} - ${value[eager]}) > $DEMO_DIFF_MAX)"; then
      note "demo: mIoU cuda_graph ${value[graph]} vs eager ${value[eager]}: within $DEMO_DIFF_MAX"
    else
      note "demo: FAILED: mIoU cuda_graph ${value[graph]} vs eager ${value[eager]}: more than $DEMO_DIFF_MAX apart"
      status=1
    fi
  else
    note 'demo: FAILED: no mIoU to compare'
    status=1
  fi
  return $status
}

part_bench() {
  local status=0
  step bash tools/gpu_benchmarks.sh --iters 5 "$PART_DIR" || status=1
  if [ "$DRY_RUN" = 1 ]; then
    local listing
    listing=$(bash tools/gpu_benchmarks.sh --dry-run --iters 5 "$PART_DIR" 2>&1) || PROBLEMS+=('bench: see its lines above')
    sed 's/^/      /' <<< "$listing"
    return 0
  fi
  local table
  for table in "$PART_DIR"/*/iterations.md; do
    [ -f "$table" ] || continue
    note "$(basename "$(dirname "$table")"):"
    while read -r line; do note "$line"; done < "$table"
  done
  return $status
}

# ----------------------------------------------------------------- one part, in its own process
if [ "${1:-}" = --run-part ]; then
  PART_DIR=$2
  "part_$3"
  exit
fi

# ----------------------------------------------------------------- the command line
USAGE='usage: bash tools/gpu_check.sh [--dry-run] [--timeout PART=SECONDS ...] OUT [PART ...]'
ARGS=()
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) DRY_RUN=1 ;;
    --timeout)
      [[ ${2:-} =~ ^([a-z]+)=([1-9][0-9]*)$ ]] && [ -n "${TIMEOUT[${BASH_REMATCH[1]}]:-}" ] \
        || die "--timeout takes PART=SECONDS with PART one of ${PARTS[*]}, got '${2:-}'"
      TIMEOUT[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
      shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 ($USAGE)" ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
[ ${#ARGS[@]} -ge 1 ] || die "$USAGE"
OUT=${ARGS[0]}
[[ $OUT == /* ]] || OUT=$CALLER/$OUT
SELECTED=("${ARGS[@]:1}")
[ ${#SELECTED[@]} -gt 0 ] || SELECTED=("${PARTS[@]}")
for part in "${SELECTED[@]}"; do
  [[ " ${PARTS[*]} " == *" $part "* ]] || die "unknown part '$part'; the parts are: ${PARTS[*]}"
done
selected() { [[ " env ${SELECTED[*]} " == *" $1 "* ]]; }
export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH}

if [ "$DRY_RUN" = 1 ]; then
  echo "gpu_check --dry-run: the parts (timeout in s; cuda, ddp and demo run side by side)"
  for part in "${PARTS[@]}"; do
    selected "$part" || continue
    printf '%-6s %4s  %s\n' "$part" "${TIMEOUT[$part]}" "${ABOUT[$part]}"
    PART_DIR=$WORK/$part "part_$part"
  done
  for tool in timeout tar; do command -v $tool > /dev/null || PROBLEMS+=("command not found: $tool"); done
  if "$PY" -c "$STACK; import pytest" 2> /dev/null; then
    if ! message=$("$PY" -c "
from mmengine.config import Config
from hrnet_mm.cli.runner import tool_path
cfg = Config.fromfile('$DEMO_GPU_CONFIG')
assert cfg.model.backbone.cuda_graph is True, '$DEMO_GPU_CONFIG: cuda_graph is not True'
for library, tool in (('mmseg', 'train'), ('mmseg', 'test'), ('mmpretrain', 'train'), ('mmpretrain', 'test')):
    tool_path(library, tool)
" 2>&1); then
      PROBLEMS+=("$(tail -1 <<< "$message")")
    fi
  else
    PROBLEMS+=("$PY does not import the stack and pytest; source .gpu/gpu_env.sh or set PY")
  fi
  if [ -f .gpu/gpu_env.sh ]; then
    ls .gpu/mmcv/mmcv_cuda.tgz.part-* > /dev/null 2>&1 || PROBLEMS+=('.gpu/mmcv holds no mmcv build')
    echo '.gpu: present (carry it to the GPU host)'
  else
    echo '.gpu: absent (the GPU host needs it unless its python imports the stack)'
  fi
  if [ ${#PROBLEMS[@]} -gt 0 ]; then
    printf 'gpu_check: %s\n' "${PROBLEMS[@]}" >&2
    exit 1
  fi
  echo 'gpu_check --dry-run: every script, config, test file and command named exists'
  exit 0
fi

# ----------------------------------------------------------------- the run
mkdir -p "$OUT" "$WORK" || die "cannot create $OUT and $WORK"
OUT=$(cd "$OUT" && pwd)
for part in "${PARTS[@]}"; do selected "$part" && rm -rf "${WORK:?}/$part" && mkdir -p "$WORK/$part"; done
declare -A STATUS SECONDS_TAKEN PID BEGAN
STARTED=$(date +%s)

pack() {  # OUT/summary.txt and OUT/logs.tgz, also when the run is interrupted
  {
    echo "gpu_check $(date -u +%FT%TZ), $(hostname), parts: ${SELECTED[*]}, $(( $(date +%s) - STARTED )) s"
    printf '%-6s %-26s %8s %8s\n' part status seconds timeout
    for part in "${PARTS[@]}"; do
      selected "$part" || continue
      printf '%-6s %-26s %8s %8s\n' "$part" "${STATUS[$part]:-not run (interrupted)}" \
        "${SECONDS_TAKEN[$part]:--}" "${TIMEOUT[$part]}"
    done
    local log
    for part in "${PARTS[@]}"; do
      selected "$part" && [ -d "$WORK/$part" ] || continue
      echo; echo "== $part"
      [ -s "$WORK/$part/summary.txt" ] && cat "$WORK/$part/summary.txt"
      [ "${STATUS[$part]:-}" = ok ] && continue
      for log in "$WORK/$part"/*.log; do  # why it failed, without opening the archive
        [ -s "$log" ] || continue
        echo "-- $(basename "$log"), last errors:"
        { grep -E 'Error|Exception|FAILED|error:|Killed' "$log" || tail -n 5 "$log"; } | tail -n 6
      done
    done
  } > "$OUT/summary.txt"
  cp "$OUT/summary.txt" "$WORK/summary.txt"
  # Text only: logs, reports, tables, config dumps; no checkpoints, data or pictures.
  (cd "$WORK" && find . -type f \( -name '*.log' -o -name '*.txt' -o -name '*.json' -o -name '*.md' \
      -o -name '*.xml' -o -name '*.py' \) -size -8M -print0 | tar czf "$OUT/logs.tgz" --null -T -)
}
trap pack EXIT
trap 'for pid in "${PID[@]}"; do kill -TERM "$pid" 2> /dev/null; done; exit 130' INT TERM

start_part() {  # name [seconds]: runs in the background, its pid in PID[name]
  local part=$1 seconds=${2:-${TIMEOUT[$1]}}
  echo "[gpu_check] $part: started, timeout $seconds s"
  BEGAN[$part]=${BEGAN[$part]:-$(date +%s)}
  timeout --kill-after=10 "$seconds" bash "$SELF" --run-part "$WORK/$part" "$part" \
    > "$WORK/$part/part.log" 2>&1 &
  PID[$part]=$!
}

finish_part() {  # name: waits for it and records its status
  local part=$1 code=0
  wait "${PID[$part]}" || code=$?
  SECONDS_TAKEN[$part]=$(( $(date +%s) - BEGAN[$part] ))
  case $code in
    0) STATUS[$part]=ok ;;
    124|137) STATUS[$part]="TIMED OUT (${TIMEOUT[$part]} s)" ;;
    *) STATUS[$part]="FAILED (exit $code)" ;;
  esac
  echo "[gpu_check] $part: ${STATUS[$part]} in ${SECONDS_TAKEN[$part]} s"
}

# env: the stack first (sourcing .gpu/gpu_env.sh when it does not import), then the report.
BEGAN[env]=$(date +%s)
if ! "$PY" -c "$STACK" 2> /dev/null; then
  if [ -f .gpu/gpu_env.sh ]; then
    echo "[gpu_check] env: the stack does not import with $PY; sourcing .gpu/gpu_env.sh"
    # Its exports (PYTHONPATH) come back through stdout; its messages go to the log.
    if path=$(timeout --kill-after=10 "${TIMEOUT[env]}" bash -c \
        'source .gpu/gpu_env.sh >&2 && printf %s "$PYTHONPATH"' 2> "$WORK/env/gpu_env.log"); then
      export PYTHONPATH=$path
    fi
  else
    echo "[gpu_check] env: the stack does not import with $PY and there is no .gpu/gpu_env.sh"
  fi
fi
left=$(( TIMEOUT[env] - ($(date +%s) - BEGAN[env]) ))
start_part env $(( left > 20 ? left : 20 ))  # what the set-up left of the env part's time
finish_part env
finish_run() {  # exit status: 0 when every selected part passed
  local part failed=0
  for part in "${PARTS[@]}"; do selected "$part" && [ "${STATUS[$part]}" != ok ] && failed=1; done
  pack
  trap - EXIT
  cat "$OUT/summary.txt"
  echo "[gpu_check] wrote $OUT/summary.txt and $OUT/logs.tgz"
  exit $failed
}
if [ "${STATUS[env]}" != ok ]; then
  cat "$WORK/env/part.log"
  for part in "${PARTS[@]:1}"; do selected "$part" && STATUS[$part]='not run: env failed'; done
  finish_run
fi

THREADS=${OMP_NUM_THREADS-}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}  # the side-by-side parts share 16 cores
for part in "${PARALLEL[@]}"; do selected "$part" && start_part "$part"; done
for part in "${PARALLEL[@]}"; do selected "$part" && finish_part "$part"; done
if [ -n "$THREADS" ]; then OMP_NUM_THREADS=$THREADS; else unset OMP_NUM_THREADS; fi
selected bench && { start_part bench; finish_part bench; }
finish_run
