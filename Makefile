# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EMBEDDED := $(BIN)/python -m apps.core.embedded

.PHONY: help install run test test-fast lint format bench loadtest vendor services-start services-stop services-status clean

help:
	@echo "make run      install, start PostgreSQL + Redis (embedded unless DATABASE_URL/REDIS_URL), migrate, seed, serve"
	@echo "make test     the whole test suite against real services"
	@echo "make lint     ruff, ruff format --check, mypy, import-linter"
	@echo "make bench    benchmarks (figures printed)"
	@echo "make loadtest simulated traders and bots against a running make run (USERS=200 DURATION=60s)"
	@echo "make vendor   refresh static/vendor from the npm registry (needs npm)"

$(STAMP): requirements/base.txt requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(EMBEDDED) run

test: $(STAMP)
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(EMBEDDED) exec -- $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(EMBEDDED) exec -- $(BIN)/python -m benchmarks $(BENCH)

loadtest: $(STAMP)
	bash scripts/loadtest.sh

vendor:
	bash scripts/vendor_static.sh

services-start: $(STAMP)
	@$(EMBEDDED) start
services-stop: $(STAMP)
	@$(EMBEDDED) stop
services-status: $(STAMP)
	@$(EMBEDDED) status

clean:
	-$(EMBEDDED) stop
	rm -rf .local
