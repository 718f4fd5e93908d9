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

# Test tiers (tests/README.md): every test is marked redis/system/model/gpu from what it uses.
# `check` runs what spawns no service and loads no model; `test` runs everything.
FAST_TIER := not system and not model and not gpu
# Test processes (pytest-xdist): each has its own redis-server, API and worker, on free ports.
TEST_WORKERS ?= 2

.PHONY: help install system-deps uv up check test lint unit bench fixtures clean

help:
	@echo "make up     - start redis (if needed), API, worker, Flower, deliverer; restarts what dies; Ctrl-C stops all"
	@echo "make check  - ruff, mypy and the fast tests (real redis-server, no service process, no model): ~2 min"
	@echo "make test   - install everything, lint, run the whole test suite ($(TEST_WORKERS) processes)"
	@echo "make unit   - tests/unit only: seconds"
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

check: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n $(TEST_WORKERS) -m "$(FAST_TIER)"

# loadscope: a module's tests stay in one process, so its module-scoped services start once.
test: install lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope

unit: install
	$(BIN)/pytest tests/unit

bench: install
	$(BIN)/python bench/throughput.py --repeat 3 --rounds 3

fixtures:
	bash scripts/make_fixtures.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
