# Bootstraps itself: a fresh machine needs only python3 (3.11+) and make.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
UV := $(or $(shell command -v uv 2>/dev/null),$(TOOLS)/bin/uv)
PYTEST_ARGS ?=

.PHONY: help install run test test-faults test-containers lint format typecheck bench data-api clean lambdas

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv

$(BIN)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	touch $@

install: $(BIN)/.installed ## Create .venv from uv.lock (installs uv first if missing)

run: install ## Bring the platform up locally (data API, MLflow, the DAG until a champion, API, UI); Ctrl-C stops it
	$(BIN)/readmission run

test: install ## Run the whole test suite against real services
	$(BIN)/pytest $(PYTEST_ARGS)

test-faults: install ## Inject real faults into real services (tests/faults: killed MariaDB, flapping APIs, S3/MLflow down)
	$(BIN)/pytest -m faults tests/faults $(PYTEST_ARGS)

test-containers: install ## Build every image with podman and run the platform as pods (tests/containers)
	$(BIN)/pytest -m containers tests/containers $(PYTEST_ARGS)

lint: install ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Run every benchmark and print its figures
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lambdas: install ## Build the Lambda zips reproducibly under aws/build/
	$(BIN)/python aws/scripts/build_lambdas.py

clean: ## Remove local state (var/) and caches
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
