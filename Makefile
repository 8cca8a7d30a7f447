# Two commands on a fresh machine (Python 3.11+ and make): `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# What is installed is kept apart: `make run` needs only the runtime lock; the developer tools
# (pytest, ruff, mypy, playwright, hypothesis, ...) come with the first `make test` or `make lint`.
RUNTIME := $(VENV)/.runtime-installed
DEV     := $(VENV)/.dev-installed

.PHONY: run test test-fast lint bench bench-fanout clean

$(RUNTIME): requirements/runtime.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/runtime.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(RUNTIME)

$(DEV): $(RUNTIME) requirements/dev.lock
	$(BIN)/python -m pip install --quiet -r requirements/dev.lock
	touch $(DEV)

run: $(RUNTIME)
	$(BIN)/impact-bot serve

test: $(DEV)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(DEV)
	$(BIN)/python -m pytest -m "unit and not exhaustive" -q $(PYTEST_ARGS)

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PYTHONPATH=. $(BIN)/lint-imports

bench: $(DEV)
	$(BIN)/python benchmarks/answer_roundtrip.py

bench-fanout: $(DEV)
	$(BIN)/python benchmarks/fanout.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
