# Ticketbell: `make run` shows the tray app on the demo helpdesk; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint format bench soak reliability package package-test desktop-check clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	PYTHON=$(PYTHON) scripts/system-deps.sh test

run: $(STAMP)
	PYTHON=$(PYTHON) scripts/system-deps.sh run
	$(VENV)/bin/ticketbell --demo

test: system-deps $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: system-deps $(STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)

# 10 minutes; TICKETBELL_SOAK_SECONDS=60 make soak for a try run. Not in CI nor in `reliability`.
soak: system-deps $(STAMP)
	$(PY) -m pytest -m slow tests/reliability/test_soak.py -s

reliability: system-deps $(STAMP)
	$(PY) -m pytest tests/reliability -m 'slow or not slow' -k 'not soak' -p tests.reliability.report

package: $(STAMP)
	PYTHON=$(PYTHON) scripts/system-deps.sh run
	$(PY) packaging/build.py

package-test: system-deps $(STAMP)
	$(PY) -m pytest -m slow tests/packaging

desktop-check: $(STAMP)
	PYTHON=$(PYTHON) scripts/system-deps.sh desktop
	scripts/desktop-check.sh

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache .mypy_cache
