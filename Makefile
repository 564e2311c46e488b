# One venv, made on first use; every target depends on it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint typecheck run playground bench clean lock

# constraints.txt holds the versions the suite last passed with; `make lock` refreshes it
# from a venv installed without it (run the tests after, then commit both).
$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

run: $(STAMP)
	$(BIN)/python -m bot

playground: $(STAMP)
	$(BIN)/python -m playground $(if $(SCRIPT),--script $(SCRIPT),) $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

lock:
	rm -rf $(VENV).lock
	$(PY) -m venv $(VENV).lock
	$(VENV).lock/bin/pip install --quiet --upgrade pip
	$(VENV).lock/bin/pip install --quiet -e '.[dev]'
	{ sed -n '1,2p' constraints.txt; $(VENV).lock/bin/pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(VENV).lock
