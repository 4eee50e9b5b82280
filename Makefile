# Everyday tasks. `make demo` and `make test` work on a fresh machine: they create what they need first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs Python 3.12: develop and test on the same version (pyenv has it on these machines).
PYTHON312 ?= $(or $(shell ls -d $$(pyenv root 2>/dev/null)/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V | tail -n 1),$(shell command -v python3.12))
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SOURCES := shared sandbox offline functions tests bench scripts
DEMO_OUT ?= out

.PHONY: help setup tools demo demo-trend test test-all lint format typecheck validate build bench sandbox clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements/dev.txt pyproject.toml
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found (pyenv versions/3.12.* or python3.12 on PATH)"; exit 1; }
	$(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

setup: $(STAMP)  ## create .venv (Python 3.12) with the pinned dependencies

tools:  ## install the SAM CLI, statelint and asl-validator into .venv-tools/.tools
	scripts/setup-tools.sh

demo: setup  ## run the whole pipeline offline against a generated dirty portal in the built-in sandbox
	$(VENV)/bin/lifecycle-guard run --contacts 5000 --companies 500 --seed 7 --out $(DEMO_OUT)

demo-trend: setup  ## three runs against one sandbox, new bad records between them: the report's trend (out/trend)
	@rm -rf $(DEMO_OUT)/trend
	@$(PY) scripts/demo_trend.py --out $(DEMO_OUT)/trend

test: setup tools lint typecheck  ## lint, type-check and run the test suite (what CI runs)
	LIFECYCLE_GUARD_REQUIRE_TOOLS=1 $(PY) -m pytest -m "not slow" -n 2

test-all: setup tools  ## the suite including slow scale tests
	LIFECYCLE_GUARD_REQUIRE_TOOLS=1 $(PY) -m pytest -n 2

lint: setup  ## ruff, and the domain package's code shape (complexity, module size)
	$(VENV)/bin/ruff check $(SOURCES)
	$(VENV)/bin/ruff format --check $(SOURCES)
	$(PY) scripts/check_code_shape.py shared

format: setup  ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format $(SOURCES)
	$(VENV)/bin/ruff check --fix $(SOURCES)

typecheck: setup  ## mypy (strict) on the shipped code, the in-memory CRM the unit tests use, and the benchmarks
	$(VENV)/bin/mypy shared sandbox offline functions
	MYPYPATH=tests $(VENV)/bin/mypy tests/support/memory_crm.py
	MYPYPATH=bench $(VENV)/bin/mypy bench

validate: setup tools  ## sam validate --lint, cfn-lint on the template and its transform, ASL validators
	LIFECYCLE_GUARD_REQUIRE_TOOLS=1 $(PY) -m pytest tests/template -q

build: tools  ## sam build (no container; uses pyenv's 3.12 for the functions and the layer)
	PATH="$(dir $(PYTHON312)):$$PATH" .venv-tools/bin/sam build

bench: setup  ## the benchmarks in bench/ (minutes; results in bench/results/)
	$(PY) bench/run_all.py

sandbox: setup  ## serve a generated portal on port 8090 until stopped
	$(VENV)/bin/lifecycle-guard sandbox --port 8090 --contacts 5000 --companies 500 --seed 7

clean:  ## remove environments, build output and caches
	rm -rf $(VENV) .venv-tools .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache $(DEMO_OUT)
