# glassmesh: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# setup.py compiles the sidecar's request path and the collector's per-span loops with mypyc, in
# place (ADR 0003); this stamp rebuilds them whenever a source of either changes, so tests never
# run a stale compiled module.
MYPYC := $(VENV)/.mypyc
COMPILED_SOURCES := $(wildcard sidecar/*.py sidecar/*/*.py collector/*/*.py)

.PHONY: demo test check bench install clean kubernetes-manifests

# The tests run a real Prometheus against the collector and drive the web UI in a headless
# Chromium: Debian's packages, installed if missing (Playwright never downloads a browser).
$(STAMP): pyproject.toml setup.py
	command -v prometheus >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }
	command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)
	touch $(MYPYC)

$(MYPYC): $(STAMP) $(COMPILED_SOURCES)
	$(PY) setup.py --quiet build_ext --inplace
	touch $(MYPYC)

install: $(STAMP) $(MYPYC)

demo: install
	$(VENV)/bin/glassmesh demo

test: install check

check: $(MYPYC)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy setup.py controlplane sidecar collector dashboards bench tests deploy/demo
	$(VENV)/bin/pytest -q

bench: install
	$(PY) -m bench.sidecar
	$(PY) -m bench.ca
	$(PY) -m bench.controlplane
	$(PY) -m bench.collector
	$(PY) -m bench.connectors
	$(PY) -m bench.analysis
	$(PY) -m bench.telemetry
	$(PY) -m bench.telemetry_instructions

# deploy/kubernetes keeps generated files: the CRDs (from the resource kinds' schemas) and copies
# of the dashboards, Grafana provisioning and Prometheus config (kustomize loads no file outside
# its directory). Tests fail when they drift.
kubernetes-manifests: $(STAMP)
	$(PY) deploy/kubernetes/sync.py

clean:
	rm -rf $(VENV) build bench/out .mypy_cache .pytest_cache .ruff_cache
	find . -name '*.so' -not -path './$(VENV)/*' -delete
