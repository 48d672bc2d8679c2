# threadgate: the two quick-start commands are `make serve` and `make test`.
# Both create ./.venv on first use and install what they need into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: serve test bench fuzz check lint typecheck proto proto-check clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "threadgate needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

## Install and run the server on the embedded default (SQLite under ./data).
serve: $(VENV)/.installed
	$(BIN)/threadgate serve $(ARGS)

## Install and run every check and the whole test suite (what CI runs).
## The PostgreSQL tests start their own throw-away server; ensure-test-deps installs
## PostgreSQL (and npm, for the Compose schema) from the distribution when missing.
test: $(VENV)/.installed-dev
	scripts/ensure-test-deps
	$(MAKE) --no-print-directory check

## Install and run the benchmark harness (default scenario: ops), e.g. `make bench ARGS=--quick`.
## ensure-bench-deps installs the load generators wrk and h2load from the distribution when missing.
bench: $(VENV)/.installed-dev
	scripts/ensure-bench-deps
	$(BIN)/python -m bench $(ARGS)

## A long REST fuzz run by hand (make test runs the same fuzzers with a short budget).
fuzz: $(VENV)/.installed-dev
	THREADGATE_REST_FUZZ_EXAMPLES=1000 $(BIN)/python -m pytest -m fuzz $(ARGS)

# Two pytest processes, because our generated gRPC modules and yandexcloud's register the
# same protobuf names and so can never be imported into one process: first the in-process
# gRPC tier (tests/faces_grpc, our stubs as the client), then everything else (the real
# clients), which never collects tests/faces_grpc.  tests/conftest.py keeps them apart.
# ARGS go to the second run only.
check: lint typecheck proto-check
	$(BIN)/python -m pytest tests/faces_grpc
	$(BIN)/python -m pytest $(ARGS)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy

proto:
	$(BIN)/python proto/generate.py

proto-check:
	$(BIN)/python proto/generate.py --check

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
