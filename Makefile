# The two front-door commands: `make demo` and `make test`. Each bootstraps .venv on its own.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv test test-fast lint format demo airflow bench bench-triggerer clean browser-deps cluster-deps cluster cluster-down

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# Debian's chromium + chromedriver for the Airflow UI page test (installed only when missing).
browser-deps:
	@bash include/scripts/ensure_chromium.sh

# Debian's postgresql + redis-server for the cluster test and `make cluster` (installed only when missing).
cluster-deps:
	@bash include/cluster/ensure_packages.sh

# Two xdist workers: both start on the timing-sensitive modules; then one runs the scheduler tests in turn (three
# of their modules on one shared Airflow), the other the rest beside them (tests/conftest.py).
test: $(STAMP) browser-deps cluster-deps
	$(BIN)/python -m pytest -q --durations=20 -n 2 --dist loadfile --no-loadscope-reorder

# The inner loop: everything but the real scheduler and the browser (about two minutes).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not scheduler and not browser"

# The gate .ci/run applies before the tests: formatting, lint rules and types (pyproject.toml).
LINTED := daydream dags plugins tests benchmarks include
lint: $(STAMP)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash include/scripts/demo.sh

airflow: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash include/scripts/airflow_up.sh

# PostgreSQL, Redis, SeaweedFS S3 and Airflow (CeleryExecutor, two workers sharing no disk), data root
# in the S3 bucket, for a person to look at (docs/deploy.md). Prints the UI address and login.
cluster: $(STAMP) cluster-deps
	@bash include/cluster/up.sh

cluster-down:
	@bash include/cluster/down.sh

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash benchmarks/run_all.sh

# Issue 11's table alone: `make bench-triggerer SIZES=60:5:5,250:5:25 BIG=5000:1:100 WORKER=1`
# (N:LATENCY:POOL; WORKER=1 adds today's worker path for the first size).
SIZES ?= 60:5:5,250:5:25,500:5:50
bench-triggerer: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" DAYDREAM_BENCH_TRIGGERER_SIZES="$(SIZES)" DAYDREAM_BENCH_TRIGGERER_BIG="$(BIG)" \
		DAYDREAM_BENCH_TRIGGERER_WORKER="$(WORKER)" $(BIN)/python benchmarks/bench_triggerer.py

clean:
	rm -rf $(VENV) .airflow .cluster
