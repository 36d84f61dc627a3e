# The README's two commands: `make run` and `make test`. Both set everything up on a fresh
# machine: system packages (scripts/system-deps.sh), the .venv and the project in it.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup run test lint typecheck pytest clean

$(STAMP): pyproject.toml
	bash scripts/system-deps.sh  # first: the tray extra builds PyGObject against its headers
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,tray]'
	touch $(STAMP)

setup: $(STAMP)
	bash scripts/system-deps.sh

run: setup
	$(VENV)/bin/officesync demo

lint: setup
	$(VENV)/bin/ruff check .

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
