# Two commands on a fresh machine (Python 3.11+ and make): `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# What is installed is kept apart: `make run` needs only the runtime lock; the developer tools
# (pytest, ruff, mypy, playwright, hypothesis, ...) come with the first `make test` or `make lint`.
RUNTIME := $(VENV)/.runtime-installed
DEV     := $(VENV)/.dev-installed
# The project's Python (compiled before the tests run).
SOURCES := alignment assessment benchmarks bot cli deployment framework huddles impact lint rounds scheduler store tests

.PHONY: run test test-fast fuzz lint lint-deployment audit bench bench-client bench-fanout bench-scale clean

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
	$(BIN)/impact-bot serve --local

# The project's bytecode compiled first: the tests start hundreds of `impact-bot` and worker
# processes, and where PYTHONDONTWRITEBYTECODE is set (as on the CI machines) each of them
# compiled every module it imported again, about 0.2 s a process.
test: $(DEV)
	$(BIN)/python -m compileall -q -j 0 $(SOURCES)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(DEV)
	$(BIN)/python -m pytest -m "unit and not exhaustive" -q $(PYTEST_ARGS)

# The long run of the fuzz test over /api/messages (make test runs a short one): 10,000 inputs on
# each database (IMPACT_FUZZ_EXAMPLES=N to change it), going on past a failure to print them all
# with its figures at the end.
fuzz: $(DEV)
	IMPACT_FUZZ_EXAMPLES=$${IMPACT_FUZZ_EXAMPLES:-10000} IMPACT_FUZZ_COLLECT=1 \
	  $(BIN)/python -m pytest -q -W ignore::hypothesis.errors.HypothesisWarning tests/fuzz $(PYTEST_ARGS)

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PYTHONPATH=. $(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

# The Azure templates, checked by checkov (its own virtualenv; CI runs this). A template checkov
# cannot parse counts as a failure, not as nothing to check.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): requirements/checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements/checkov.lock
	touch $(CHECKOV_STAMP)

lint-deployment: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/hadolint Dockerfile
	@out="$$($(CHECKOV_VENV)/bin/checkov -d deployment/azure --framework bicep --skip-download --compact --quiet 2>&1)"; status=$$?; \
	  echo "$$out"; \
	  if echo "$$out" | grep -q "Parsing errors"; then echo "checkov could not parse a template"; exit 1; fi; \
	  if ! echo "$$out" | grep -q "Passed checks: [1-9]"; then echo "checkov checked nothing"; exit 1; fi; \
	  exit $$status

# pip-audit over every locked dependency (its own virtualenv; CI runs this): fails on a known
# vulnerability that has a fix; says so, without failing, if the vulnerability service is
# unreachable from here (.ci/audit).
AUDIT_VENV := .venv-audit
AUDIT_STAMP := $(AUDIT_VENV)/.installed

$(AUDIT_STAMP): requirements/audit.lock
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet -r requirements/audit.lock
	touch $(AUDIT_STAMP)

audit: $(AUDIT_STAMP)
	PIP_AUDIT=$(AUDIT_VENV)/bin/pip-audit $(PYTHON) .ci/audit

bench: $(DEV)
	$(BIN)/python benchmarks/answer_roundtrip.py

# The same, with the simulated people in a process of their own (the bot's CPU per turn alone).
bench-client: $(DEV)
	$(BIN)/python benchmarks/answer_roundtrip.py --client-process $(ARGS)

bench-fanout: $(DEV)
	$(BIN)/python benchmarks/fanout.py

# A 15,000-person round (open, nudge ticks, close) through the service; ARGS="--people 3000" etc.
bench-scale: $(DEV)
	$(BIN)/python benchmarks/trust_scale.py $(ARGS)
	$(BIN)/python benchmarks/trust_scale.py --database-url $${IMPACT_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test} $(ARGS)
	$(BIN)/python benchmarks/trust_processes.py --processes 2 --database-url $${IMPACT_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test} $(ARGS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(AUDIT_VENV) .pytest_cache .mypy_cache .ruff_cache
