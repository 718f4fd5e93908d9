# EndoScribe: `make up` runs the whole system locally, `make test` installs everything and tests it.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
# No telemetry from the worker's dependencies in anything make runs (tests, CI, make up): see docs/operations/privacy.md.
export PYANNOTE_METRICS_ENABLED := false
export OTEL_SDK_DISABLED := true
export HF_HUB_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
# uv through the interpreter: found wherever pip put it (user, system or pyenv site).
UV := python3 -m uv

# The install commands the images run too (tests/deploy checks they match): keep them in sync.
UV_SYNC_API := uv sync --frozen --no-dev --no-install-project
UV_SYNC_WORKER := uv sync --frozen --no-dev --no-install-project --extra worker
UV_SYNC_DEV := uv sync --frozen --extra worker --extra base-model --group dev

.PHONY: help install system-deps uv up test lint unit bench fixtures clean

help:
	@echo "make up     - start redis (if needed), API, worker, Flower, deliverer; restarts what dies; Ctrl-C stops all"
	@echo "make test   - install everything, lint, run the test suite"
	@echo "make bench  - throughput: in-process WhisperX vs the full system"

system-deps:
	@bash scripts/install_system_deps.sh

uv:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

$(VENV)/.installed: uv.lock pyproject.toml | uv
	$(UV_SYNC_DEV:uv=$(UV))
	@touch $@

install: system-deps $(VENV)/.installed

up: install
	@bash scripts/up.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	bash scripts/lint_infra.sh
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: install lint
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

bench: install
	$(BIN)/python bench/throughput.py --repeat 3 --rounds 3

fixtures:
	bash scripts/make_fixtures.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
