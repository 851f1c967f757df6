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
# assertion is a wall-clock pace, and the fault stories (real clocks against the product's processes).
# A phase that collects no test is a failure.
# 3 processes: with the fault stories still in this phase, 3 beat 4 on 2 cores (2026-12-03: 4:54 and
# 5:30 against 6:34; 2 took 6:56). Without them, one run each on the same code, 4 took 5:19 against
# 5:41 with 1.82 and 1.76 of the 2 cores busy: CPU-bound, within this machine's noise, so 3 stays.
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
