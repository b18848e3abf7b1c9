# glassmesh: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test check bench install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/glassmesh demo

test: $(STAMP) check

check:
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy controlplane sidecar collector dashboards bench tests
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(PY) -m bench.sidecar

clean:
	rm -rf $(VENV) bench/out .mypy_cache .pytest_cache .ruff_cache
