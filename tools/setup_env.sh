#!/usr/bin/env bash
# Creates .venv with the pinned OpenMMLab stack and installs hrnet_mm in editable mode.
# Idempotent: a stamp keyed by the requirement files skips everything on the second run, and the
# mmcv wheel (a C++ build, hrnet_mm/rebuild.py) is cached outside the repo, keyed by Python, torch
# and CUDA versions.
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
# The pins of every pip call; tools/test_stacks.sh passes its own for the other torch stacks.
CONSTRAINTS=$(realpath "${HRNET_MM_CONSTRAINTS:-requirements/constraints.txt}")
STAMP=$VENV/.hrnet_mm_setup
# The checkout's path too: hrnet_mm is installed editable, so a venv serves the checkout it was set up for.
KEY=$( (cat "$CONSTRAINTS" requirements/*.txt tools/setup_env.sh setup.py; pwd) | sha256sum | cut -c1-16)

if [[ -f $STAMP && "$(cat $STAMP)" == "$KEY" ]]; then
  exit 0
fi

echo "[setup] interpreter: $PY (Python $PY_VERSION, $(command -v "$PY" || echo "$PY"))"
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
export PIP_CONSTRAINT=$CONSTRAINTS   # later installs must not lift setuptools or torch
"${PIP[@]}" install -q --upgrade pip wheel 'setuptools>=77,<81'
"${PIP[@]}" install -q torch torchvision   # the releases $CONSTRAINTS pins (torch==2.14.1 by default)
"${PIP[@]}" install -q -r requirements/base.txt

# mmcv 2.1.0 ships only as source, which needs patches to build here: hrnet_mm/rebuild.py builds it
# against this torch (once; the wheel is cached per Python, torch and CUDA version under
# ${HRNET_MM_CACHE:-$XDG_CACHE_HOME/hrnet_mm}) and installs it, or says it is installed already. Run as
# a file: `-m hrnet_mm.rebuild` would import hrnet_mm first, which needs mmcv.
"$VENV/bin/python" hrnet_mm/rebuild.py mmcv

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
