# The two commands of the README: `make demo` and `make test`. Both set up .venv when it is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export AIRFLOW_HOME := $(CURDIR)
export CONCORD_HOME := $(CURDIR)

.PHONY: demo test sync clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Concord needs Python 3.11 or newer"' \
	  || { echo "Python 3.11+ is required (set PYTHON=...)"; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null \
	  || { echo "installing python3-venv"; apt-get update -qq && apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	@touch $@

demo: $(STAMP)
	$(BIN)/concord demo

test: $(STAMP)
	$(BIN)/python -m pytest

sync: $(STAMP)
	$(BIN)/concord sync

clean:
	rm -rf var
