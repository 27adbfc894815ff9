#!/usr/bin/env bash
# `make test-stacks`: the fast suite on the oldest and the newest torch stack hrnet_mm supports
# (docs/install.md, "Supported stacks"). Each stack is a venv made by tools/setup_env.sh with the
# stack's torch, torchvision and numpy in place of the pins, kept outside the repo under
# ${HRNET_MM_CACHE:-${XDG_CACHE_HOME:-~/.cache}/hrnet_mm}/stacks/ and reused while its pins and the
# set-up files are unchanged (delete its folder to rebuild it).
#
# Usage: tools/test_stacks.sh [oldest|newest]...   (default: both; extra pytest arguments in $PYTEST_ARGS)
# Exit status: 0 when every stack's suite passed, else 1 (a set-up failure is also 1).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${HRNET_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hrnet_mm}
STACKS=$CACHE/stacks
export HRNET_MM_CACHE=$CACHE   # the mmcv wheels of hrnet_mm/rebuild.py go beside the stacks
export PYTHONHASHSEED=0
MARKERS='not slow and not release'   # the fast suite

# The oldest stack hrnet_mm supports: hrnet_mm/plugin.py refuses an older torch (MIN_TORCH).
OLDEST=(torch==2.1.2 torchvision==0.16.2 'numpy>=1.26,<2')

# The newest torch and torchvision the package index serves, as pinned requirements. pip's
# configuration files are left out of this question (a machine may cap torch there to what it keeps
# on disk); the set-up's installs then take the pins from the stack's constraints file.
newest() {
  local py
  py=$(command -v python3.11 || command -v python3)
  env -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null "$py" -m pip install -q --dry-run --ignore-installed --report - \
    torch torchvision 2>/dev/null \
    | "$py" -c 'import json, sys
versions = {p["metadata"]["name"]: p["metadata"]["version"] for p in json.load(sys.stdin)["install"]}
print("torch==%s torchvision==%s" % (versions["torch"], versions["torchvision"]))'
}

# constraints.txt with its torch, torchvision and numpy lines replaced by the stack's pins.
write_constraints() {
  local out=$1; shift
  grep -v -E '^(torch|torchvision|numpy)([=<>!~ ]|$)' requirements/constraints.txt > "$out"
  printf '%s\n' '# this stack (tools/test_stacks.sh)' "$@" >> "$out"
}

run_stack() {
  local name=$1; shift
  local pins=("$@")
  local dir=$STACKS/$name-${pins[0]/==/}
  mkdir -p "$dir"
  write_constraints "$dir/constraints.txt" "${pins[@]}"
  echo "[stacks] $name: ${pins[*]} in $dir"
  local start=$SECONDS
  if ! HRNET_MM_CONSTRAINTS=$dir/constraints.txt VENV=$dir/venv bash tools/setup_env.sh; then
    echo "[stacks] $name: the set-up failed" >&2
    return 1
  fi
  local setup_s=$((SECONDS - start)); start=$SECONDS
  local status=0
  # shellcheck disable=SC2086  # PYTEST_ARGS is a list of words
  "$dir/venv/bin/python" -m pytest -q -rs -p no:cacheprovider -m "$MARKERS" ${PYTEST_ARGS:-} tests \
    2>&1 | tee "$dir/pytest.log" || status=$?
  local summary
  summary=$(grep -E '(passed|failed).* in [0-9.]+s' "$dir/pytest.log" | tail -1 | tr -d '=' | xargs || true)
  echo "[stacks] $(date -u +%F) $name (${pins[*]}): set-up ${setup_s}s, suite $((SECONDS - start))s: ${summary:-no summary} (log: $dir/pytest.log)" \
    | tee -a "$STACKS/results.log"
  return $status
}

names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(oldest newest)
failed=0
for name in "${names[@]}"; do
  case $name in
    oldest) run_stack oldest "${OLDEST[@]}" || failed=1 ;;
    newest)
      read -r -a pins <<< "$(newest)"
      run_stack newest "${pins[@]}" 'numpy>=1.26,<2.4' || failed=1 ;;
    *) echo "tools/test_stacks.sh: unknown stack '$name' (oldest, newest)" >&2; exit 2 ;;
  esac
done
exit $failed
