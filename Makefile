# brokerflow: `make demo` runs the product on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: install test demo lint typecheck bench chaos clean dev-up dev-down ui-check

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy domain
	$(BIN)/python -m pytest $(ARGS)

demo: $(STAMP)
	$(BIN)/brokerflow demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy domain

# `make bench ARGS="--resting 1000 --profile"`; results in .brokerflow/bench/ (see docs/benchmarks.md).
$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	@touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench $(ARGS)

# The whole stack under faults: `make chaos ARGS="--orders 500 --seed 7"` (see docs/chaos.md).
chaos: $(STAMP)
	$(BIN)/python -m chaos $(ARGS)

# The Temporal Web UI in headless Chromium (installs chromium and playwright-core if missing; runs the demo).
ui-check: $(STAMP)
	scripts/ui_check.sh $(ARGS)

dev-up: $(STAMP)
	$(BIN)/brokerflow dev up

dev-down: $(STAMP)
	$(BIN)/brokerflow dev down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
