# Two commands for newcomers: `make demo` and `make test`. Both set themselves up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint format check clean

setup:
	@$(PYTHON) tools/bootstrap.py

demo: setup
	$(PY) -m gemini_vision.demo $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) tools/typecheck.py

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
