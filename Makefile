# Every target creates the virtualenv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ENVIRONMENT ?= devel

.PHONY: demo test test-fast run lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m embedded_stack.demo

test: $(STAMP)
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m "not e2e"

run: $(STAMP)
	ENVIRONMENT=$(ENVIRONMENT) $(BIN)/python main.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench main.py
	$(BIN)/ruff format --check src tests bench main.py

format: $(STAMP)
	$(BIN)/ruff format src tests bench main.py
	$(BIN)/ruff check --fix src tests bench main.py

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .stack
