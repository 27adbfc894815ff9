# Common loops. Every target sets up .venv first (idempotent; seconds once built).
PY := .venv/bin/python
export PYTHONHASHSEED := 0

.PHONY: setup test test-release test-fast test-stacks demo demo-seg demo-pose demo-det demo-cls demo-face bench bench-deploy lint typecheck check complexity fuzz clean

setup:
	@bash tools/setup_env.sh

test: setup
	$(PY) -m pytest -q -rs -m "not release" tests

# The whole-product runs (~20 min on 2 cores): the wheel in a fresh venv, exported models' accuracy.
test-release: setup
	$(PY) -m pytest -q -rs -m release tests

test-fast: setup
	$(PY) -m pytest -q -rs -m "not slow" tests

# The fast suite on the oldest and the newest supported torch stack, each in its own cached venv
# (docs/install.md, "Supported stacks"); `bash tools/test_stacks.sh oldest` runs one.
test-stacks:
	bash tools/test_stacks.sh

demo: demo-seg

demo-seg: setup
	$(PY) tools/demo.py seg

demo-pose: setup
	$(PY) tools/demo.py pose

demo-det: setup
	$(PY) tools/demo.py det

demo-cls: setup
	$(PY) tools/demo.py cls

demo-face: setup
	$(PY) tools/demo.py face

bench: setup
	$(PY) tools/benchmark.py

# CPU inference: stock eager vs ours folded vs exported float32 / int8 (docs/deploy.md).
bench-deploy: setup
	$(PY) tools/deploy_benchmark.py

complexity: setup
	.venv/bin/hrnet-mm complexity --all

# Mutated checkpoint files through every loading entry point (docs/checkpoints.md, "Fuzzing").
fuzz: setup
	$(PY) -m hrnet_mm.testing.checkpoint_fuzz --inputs 20000 --seed 1 --jobs 2 --report work_dirs/checkpoint_fuzz/report.json

lint: setup
	.venv/bin/ruff check hrnet_mm tests tools configs

typecheck: setup
	$(PY) -m mypy

# What CI runs before the tests.
check: lint typecheck

clean:
	rm -rf work_dirs data .pytest_cache
