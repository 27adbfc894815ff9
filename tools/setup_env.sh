#!/usr/bin/env bash
# Creates .venv with the pinned OpenMMLab stack and installs hrnet_mm in editable mode.
# Idempotent: a stamp keyed by the requirement files skips everything on the second run, and the
# mmcv wheel (a ~6 min C++ build) is cached outside the repo, keyed by Python, torch and CUDA versions.
set -euo pipefail
cd "$(dirname "$0")/.."

# Interpreter: $PYTHON, else the first of these that exists and runs (a pyenv shim may exist for a
# version that is not installed). Supported: 3.11-3.13 (the pins are verified on 3.11).
if [[ -n ${PYTHON:-} ]]; then
  PY=$PYTHON
else
  PY=
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c '' 2>/dev/null; then PY=$candidate; break; fi
  done
  [[ -n $PY ]] || { echo "[setup] error: none of python3.11, python3.12, python3.13, python3 runs here" >&2; exit 1; }
fi
PY_VERSION=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) \
  || { echo "[setup] error: cannot run interpreter '$PY'" >&2; exit 1; }
case $PY_VERSION in
  3.11|3.12|3.13) ;;
  *) echo "[setup] error: $PY is Python $PY_VERSION; supported: Python 3.11-3.13" >&2; exit 1 ;;
esac
VENV=${VENV:-.venv}
CACHE=${HRNET_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hrnet_mm}
CONSTRAINTS=requirements/constraints.txt
STAMP=$VENV/.hrnet_mm_setup
KEY=$(cat $CONSTRAINTS requirements/*.txt tools/setup_env.sh setup.py | sha256sum | cut -c1-16)

if [[ -f $STAMP && "$(cat $STAMP)" == "$KEY" ]]; then
  exit 0
fi

echo "[setup] interpreter: $PY (Python $PY_VERSION, $(command -v "$PY" || echo "$PY"))"
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
export PIP_CONSTRAINT=$PWD/$CONSTRAINTS   # later installs must not lift setuptools or torch
"${PIP[@]}" install -q --upgrade pip wheel 'setuptools>=77,<81'
"${PIP[@]}" install -q torch==2.14.1 torchvision==0.29.1
"${PIP[@]}" install -q -r requirements/base.txt

# mmcv 2.1.0: source only; its setup.py asks for C++14/17 while torch 2.14's headers need C++20.
TORCH_VER=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
CUDA_TAG=cpu
if command -v nvcc >/dev/null && "$VENV/bin/python" -c 'import torch,sys; sys.exit(not torch.cuda.is_available())'; then
  CUDA_TAG=cuda$(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
fi
PY_TAG=cp${PY_VERSION/./}   # the wheel's Python tag: a cp311 build does not install into 3.13
WHEEL_DIR=$CACHE/mmcv-2.1.0-$PY_TAG-torch$TORCH_VER-$CUDA_TAG
if ! "$VENV/bin/python" -c 'import mmcv.ops' 2>/dev/null; then
  if ! ls "$WHEEL_DIR"/mmcv-2.1.0-"$PY_TAG"-*.whl >/dev/null 2>&1; then
    echo "[setup] building mmcv 2.1.0 with ops for torch $TORCH_VER ($CUDA_TAG); takes ~6 min once"
    SRC=$(mktemp -d)
    # pip unpacks the sdist, then runs its setup.py for metadata, which fails on Python 3.13 before it
    # is patched (below); --no-clean keeps the unpacked tree, the one thing needed from the download.
    TMPDIR=$SRC "${PIP[@]}" download -q --no-clean --no-deps --no-binary :all: --no-build-isolation \
      mmcv==2.1.0 -d "$SRC" >"$SRC/download.log" 2>&1 || true
    TREE=$(ls -d "$SRC"/pip-download-*/mmcv*/ 2>/dev/null | head -n 1)
    if [[ ! -f $TREE/setup.py ]]; then
      tail -n 5 "$SRC/download.log" >&2
      echo "[setup] error: could not download the mmcv 2.1.0 source (log above)" >&2; exit 1
    fi
    # Two patches to its setup.py: C++20, and a version read that Python 3.13 breaks (exec() no longer
    # writes into locals(), so `locals()['__version__']` raises KeyError): exec into a dict instead.
    sed -i -e 's/c++14/c++20/g' -e 's/c++17/c++20/g' \
      -e "s/exec(compile(f.read(), version_file, 'exec'))/exec(compile(f.read(), version_file, 'exec'), version_ns := {})/" \
      -e "s/return locals()\['__version__'\]/return version_ns['__version__']/" "$TREE/setup.py"
    grep -q "return version_ns\['__version__'\]" "$TREE/setup.py" \
      || { echo "[setup] error: mmcv 2.1.0's setup.py is not the expected one (version patch)" >&2; exit 1; }
    mkdir -p "$WHEEL_DIR.tmp"
    [[ $CUDA_TAG == cpu ]] || export FORCE_CUDA=1
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} "${PIP[@]}" wheel -q --no-build-isolation --no-deps \
      --no-cache-dir "$TREE" -w "$WHEEL_DIR.tmp"
    rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR" && rm -rf "$SRC"
  fi
  "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-2.1.0-"$PY_TAG"-*.whl
fi

"${PIP[@]}" install -q -r requirements/tasks.txt
# xtcocotools must compile against the installed numpy 2, from a source patched for Python 3.13
# (hrnet_mm/rebuild.py); mmpose's chumpy dependency does not build.
if ! "$VENV/bin/python" -c 'import xtcocotools.coco' 2>/dev/null; then
  "$VENV/bin/python" -c "import logging; logging.getLogger('hrnet_mm').setLevel('ERROR')
from hrnet_mm.rebuild import rebuild; rebuild('xtcocotools')"
fi
"${PIP[@]}" install -q --no-deps mmpose==1.3.2
"${PIP[@]}" install -q -r requirements/dev.txt
"${PIP[@]}" install -q --no-deps --no-build-isolation -e .

"$VENV/bin/python" - <<'PY'
import mmcv.ops, mmdet, mmpose, mmpretrain, mmseg, torch, hrnet_mm  # noqa: F401
from mmpretrain.registry import MODELS  # noqa: F401
print(f'[setup] ok: torch {torch.__version__}, mmcv {mmcv.__version__}, mmseg {mmseg.__version__}, '
      f'mmdet {mmdet.__version__}, mmpose {mmpose.__version__}, mmpretrain {mmpretrain.__version__}')
PY
echo "$KEY" > "$STAMP"
