# The two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test serve lint i18n clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else f"Commonworks needs Python >= 3.11, found {v.major}.{v.minor}; try: make PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed  ## set up, seed the demo and serve on http://127.0.0.1:8000
	$(BIN)/commonworks demo

serve: $(VENV)/.installed
	$(BIN)/commonworks serve

test: $(VENV)/.installed-dev  ## set up and run the whole test suite
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench

i18n: $(VENV)/.installed-dev  ## re-extract UI strings and merge them into the catalogs
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --project=Commonworks --version=0.1.0 --copyright-holder="Commonworks contributors" -o src/commonworks/locale/messages.pot src
	$(BIN)/pybabel update -i src/commonworks/locale/messages.pot -d src/commonworks/locale --no-fuzzy-matching

clean:
	rm -rf $(VENV) var .pytest_cache
