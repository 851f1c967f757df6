# Set up, run and check nudgeflow. `make run` and `make test` are all a fresh machine needs.

PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv install catalogs messages run test lint fmt bench clean screenshots dashboard

venv install: catalogs

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Reinstall only when the dependencies change, so a repeated `make test` starts at once.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

# The .mo files are build output (ignored by git): compile them from whatever .po files exist.
catalogs: $(STAMP)
	@if [ -n "$$(find i18n/locales -name 'messages.po' 2>/dev/null)" ]; then \
		$(BIN)/pybabel -q compile -d i18n/locales -D messages; \
	fi

# Re-extract the staff UI's strings (api/staff) and merge them into the ru and en catalogs.
messages: $(STAMP)
	$(BIN)/pybabel extract -F i18n/babel.cfg -k _ -k gettext --no-location --sort-output \
		--project nudgeflow -o i18n/locales/messages.pot .
	$(BIN)/pybabel update -i i18n/locales/messages.pot -d i18n/locales -D messages --no-fuzzy-matching

run: install
	$(BIN)/python cli.py run

# The staff console's screenshots in the README, English and Russian, drawn by Debian's Chromium.
screenshots: install
	$(BIN)/python -m tests.staff.screenshots

# docs/dashboard.png: deploy/grafana/nudgeflow.json drawn from Debian's Prometheus over a four-minute run.
dashboard: install
	$(BIN)/python -m deploy.grafana.render

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# The suite on TEST_WORKERS processes (pytest-xdist), then, alone, the tests marked `alone`: those whose
# assertion is a wall-clock pace (a neighbour's burst bends it). A phase that collects no test is a failure.
# The fault stories run in the first phase since 2026-12-03, 22:30 UTC (alone they were 2:56 of real
# clocks one after another); the longest tests start each process's share (tests/conftest.py, `lasts`).
# 3 processes: with that order, 3 took 5:02 and 4 took 5:19 (one run each, 2026-12-03, 1.39 and 1.64
# of the 2 cores busy), and at 4 a reply's 0.5 s provider call in a channel test timed out under the load.
# worksteal: a process that runs dry takes the back half of the longest queue. With the default `load`
# the tests queued behind a long story waited for it while other processes sat idle for up to 5 minutes.
# Bytecode is written even where PYTHONDONTWRITEBYTECODE is set: the workflow sandbox imports the
# workflow modules afresh for every workflow a test starts, and without __pycache__ each import is a
# compile from source (bench/stack.py does the same for its processes).
TEST_WORKERS ?= 3
PYTEST = env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest
PYTEST_PHASE = status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; exit 1; fi; \
	[ $$status -eq 0 ] || exit $$status

test: lint
	@$(PYTEST) -q -n $(TEST_WORKERS) --dist worksteal -m "not alone"; $(PYTEST_PHASE); \
	$(PYTEST) -q -m alone; $(PYTEST_PHASE)

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install -e '.[dev,bench]'
	touch $@

bench: install $(BENCH_STAMP)
	@if [ -f bench/__main__.py ]; then \
		$(BIN)/python -m bench $(BENCH_ARGS); \
	else \
		echo "benchmarks are not written yet (bench/__main__.py is missing)" >&2; exit 1; \
	fi

clean:
	rm -rf .data
