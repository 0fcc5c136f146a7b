# Unknot: `make run` serves the app, `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench soak check fmt lock system-deps clean

# constraints.txt holds every install to the versions the tests last passed with, so that a clean
# clone installs what CI tested, not whatever was released since (see `make lock`).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]' -c constraints.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/unknot plans-check >/dev/null
	$(BIN)/unknot init
	$(BIN)/unknot demo
	$(BIN)/unknot vapid-keys
	$(BIN)/unknot serve

# Debian's Chromium (browser tests), PostgreSQL (scale-out tests) and wrk (benchmarks), installed when missing.
system-deps:
	bash .ci/system-deps

# The browser tests run beside the rest, their report printed when both are done, each half in
# two pytest-xdist workers: the tests wait on browsers, servers, argon2 and timeouts more than they
# compute (the rest took ~14 of the 15 minutes CI allows on its 2 cores as one process, using about
# half a core; then the browser half, one process, took 14). Default distribution, not loadfile:
# schemathesis gives every fuzzed operation the same test id, which loadfile would run only once.
test: $(STAMP) system-deps
	$(BIN)/ruff check server tests
	@log=$$(mktemp); \
	$(BIN)/python -m pytest -q -m browser -n 2 > $$log 2>&1 & browser=$$!; \
	$(BIN)/python -m pytest -q -m "not browser" -n 2; rest=$$?; \
	wait $$browser; browsers=$$?; \
	echo "== browser tests"; cat $$log; rm -f $$log; \
	test $$rest -eq 0 && test $$browsers -eq 0

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not browser" -x

bench: $(STAMP) system-deps
	$(BIN)/python -m tests.bench

# Minutes at a steady rate: UNKNOT_SOAK_MINUTES (5), UNKNOT_SOAK_RATE (100 req/s).
soak: $(STAMP) system-deps
	$(BIN)/python -m tests.bench.soak

check: $(STAMP)
	$(BIN)/ruff check server tests
	$(BIN)/ruff format --check server tests

fmt: $(STAMP)
	$(BIN)/ruff format server tests
	$(BIN)/ruff check --fix server tests

# The newest releases pyproject.toml allows, resolved in a new environment, written to constraints.txt;
# then run `make test` before committing it.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	{ sed -n '/^#/p' constraints.txt; \
	  .lock-venv/bin/python -m pip freeze --all --exclude-editable | grep -v '^setuptools=='; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .lock-venv

clean:  # the clinic's data in var/ (database, backups, VAPID keys) is never removed here
	rm -rf $(VENV) .pytest_cache
