# Bootstraps itself: a fresh machine needs only python3 (3.11+) and make.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
UV := $(or $(shell command -v uv 2>/dev/null),$(TOOLS)/bin/uv)
PYTEST_ARGS ?=

.PHONY: help install system-packages run test test-fast test-faults test-containers lint secrets secrets-baseline format typecheck bench data-api clean lambdas

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

system-packages: ## Install the Debian packages the tests need (MariaDB, Prometheus, Pushgateway, Chromium, kubectl)
	scripts/install-system-packages.sh

test: install system-packages ## Run the whole test suite against real services (installs what it needs)
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: install ## The tests that need no service and not the whole data set (about a minute)
	$(BIN)/pytest -m "not services" $(PYTEST_ARGS)

test-faults: install ## Inject real faults into real services (tests/faults: killed MariaDB, flapping APIs, S3/MLflow down)
	$(BIN)/pytest -m faults tests/faults $(PYTEST_ARGS)

test-containers: install ## Build every image with podman and run the platform as pods (tests/containers)
	$(BIN)/pytest -m containers tests/containers $(PYTEST_ARGS)

lint: install secrets ## ruff (lint + format check), mypy and the secret scanner
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

secrets: install ## detect-secrets over every tracked file: a finding not in .secrets.baseline fails
	@tmp=$$(mktemp); cp .secrets.baseline $$tmp; \
	$(BIN)/detect-secrets-hook --baseline $$tmp $$(git ls-files | grep -vx .secrets.baseline); rc=$$?; rm -f $$tmp; \
	if [ $$rc -ne 0 ] && [ $$rc -ne 3 ]; then \
	  echo "make secrets: a possible secret (above) is not in .secrets.baseline. Remove it, or, if it is not a secret,"; \
	  echo "run 'make secrets-baseline', check the new entry and commit .secrets.baseline."; exit 1; \
	fi; echo "make secrets: no secret outside .secrets.baseline"

secrets-baseline: install ## Re-scan every tracked file into .secrets.baseline (review the diff before committing)
	$(BIN)/detect-secrets scan --baseline .secrets.baseline $$(git ls-files)

format: install ## Apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Run every benchmark and print its figures
	@for script in $$(ls benchmarks/*.py | grep -v __init__); do name=$$(basename $$script .py); \
	  echo "== $$script"; $(BIN)/python -m benchmarks.$$name || exit 1; done

lambdas: install ## Build the Lambda zips reproducibly under aws/build/
	$(BIN)/python aws/scripts/build_lambdas.py

clean: ## Remove local state (var/) and caches
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
