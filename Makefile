# `make demo` and `make test` are all a fresh clone needs: each creates .venv,
# installs the project with every optional group and the npm tools (anvil, js-ipfs),
# then runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.hyperx-installed
NODE_STAMP := node_modules/.hyperx-installed

.PHONY: setup demo test verify bench lint clean

setup: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --omit=optional --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(BIN)/hyperx session run

test: setup
	$(BIN)/hyperx verify --profile quick
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) node_modules build dist *.egg-info .pytest_cache .hypothesis
