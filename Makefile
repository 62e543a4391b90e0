# The two front-door commands: `make demo` and `make test`. Each bootstraps .venv on its own.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv test demo airflow bench clean browser-deps

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# Debian's chromium + chromedriver for the Airflow UI page test (installed only when missing).
browser-deps:
	@bash include/scripts/ensure_chromium.sh

test: $(STAMP) browser-deps
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash include/scripts/demo.sh

airflow: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash include/scripts/airflow_up.sh

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash benchmarks/run_all.sh

clean:
	rm -rf $(VENV) .airflow
