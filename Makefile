# Two commands set everything up on a fresh machine: `make up` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install system-deps up test test-fast bench clean help

help:
	@echo "make up     install everything and run the local system (broker, worker, dashboard, demo)"
	@echo "make test   install everything and run the whole test suite"
	@echo "make bench  run the benchmarks and print their figures"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

# Debian packages the tests drive for real: Chromium (browser tests), Prometheus + promtool,
# Alertmanager, a CJK font for Chinese in screenshots. Installed only when missing.
system-deps:
	@bash deploy/install-system-deps.sh

install: $(STAMP) system-deps

up: install
	$(BIN)/qbus up

# A hung test run fails after 25 minutes instead of holding CI until its own limit.
test: install
	timeout --kill-after=30 1500 $(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not browser"

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) var build *.egg-info
