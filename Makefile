# The README's two commands are `make run` and `make test`; each sets up what it needs first.
PY := .venv/bin/python
GD_FILES = $(shell find engines/stage-godot -name '*.gd' 2>/dev/null)
ARGS ?=

.PHONY: run test lint bench bench-speech bench-lipsync bench-shortcuts package setup setup-test schema clean

run: setup
	$(PY) -m app $(ARGS)

test: setup-test lint
	$(PY) -m pytest $(ARGS)

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m godot_bridge.protocol.schema --check
	@if [ -n "$(GD_FILES)" ]; then .venv/bin/gdlint $(GD_FILES) && .venv/bin/gdformat --check $(GD_FILES); fi

bench: setup
	$(PY) -m benchmarks.bridge $(ARGS)
	$(PY) -m benchmarks.models
	$(PY) -m benchmarks.speech
	$(PY) -m benchmarks.lipsync
	$(MAKE) --no-print-directory bench-shortcuts
	$(PY) -m benchmarks.desktop

bench-shortcuts: setup-test
	$(PY) -m benchmarks.shortcuts

bench-speech: setup
	$(PY) -m benchmarks.speech $(ARGS)

bench-lipsync: setup
	$(PY) -m benchmarks.lipsync $(ARGS)
	$(PY) -m benchmarks.calibration_margins

package: setup
	$(PY) -m pip install -q -e '.[package]'
	$(PY) packaging/build.py

setup:
	@bash scripts/setup.sh

setup-test:
	@bash scripts/setup.sh --test

schema:
	$(PY) -m godot_bridge.protocol.schema --write

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
