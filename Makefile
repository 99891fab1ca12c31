# Ticketbell: `make run` shows the tray app on the demo helpdesk; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# the suite's worker processes in `make test` (pytest-xdist, a test file to a worker; the
# servers the tests start all take free ports)
TEST_WORKERS ?= 2

.PHONY: translations translations-update run test lint format bench soak reliability package package-test desktop-check clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	PYTHON=$(PYTHON) scripts/system-deps.sh test

# The catalogues (agent/locale/*/LC_MESSAGES/ticketbell.po) compiled to .mo for the bundle;
# from a checkout a missing .mo is compiled in memory. README, Development: the whole workflow.
translations: $(STAMP)
	$(PY) -m agent.i18n

# The texts of the code into ticketbell.pot, and every language's .po brought up to date with it
translations-update: $(STAMP)
	$(VENV)/bin/pybabel extract --no-location --sort-output --add-comments=TRANSLATORS: --no-wrap \
		--project=Ticketbell --copyright-holder="Ticketbell contributors" -o agent/locale/ticketbell.pot agent ui ticketbell.py
	$(VENV)/bin/pybabel update --ignore-obsolete --no-wrap -i agent/locale/ticketbell.pot \
		-d agent/locale -D ticketbell

run: $(STAMP) translations
	PYTHON=$(PYTHON) scripts/system-deps.sh run
	$(VENV)/bin/ticketbell --demo

test: system-deps $(STAMP) translations
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

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

package: $(STAMP) translations
	PYTHON=$(PYTHON) scripts/system-deps.sh run
	$(PY) packaging/build.py

package-test: system-deps $(STAMP) translations
	$(PY) -m pytest -m slow tests/packaging

desktop-check: $(STAMP)
	PYTHON=$(PYTHON) scripts/system-deps.sh desktop
	scripts/desktop-check.sh

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache .mypy_cache
