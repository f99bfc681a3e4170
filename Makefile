# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

# Grafana's dashboard schema (npm @grafana/schema, the version compose's Grafana runs) and tsc, for
# tests/unit/dashboards/test_grafana_schema.py; installed from the lock file, inside the repository.
SCHEMA_TOOLS := tools/grafana-schema/node_modules/.package-lock.json

.PHONY: run test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -q -e ".[dev]"
	touch $@

## make run: install into .venv and bring up the whole system with the demo feed (Ctrl-C stops it)
run: $(VENV)/.installed
	$(VENV)/bin/graphwiz-monitoring run --demo

$(SCHEMA_TOOLS): tools/grafana-schema/package.json tools/grafana-schema/package-lock.json
	npm ci --prefix tools/grafana-schema --no-audit --no-fund --loglevel=error

## make test: install test tools and services, then lint and run every test
test: $(VENV)/.installed-dev
	scripts/ensure-binaries.sh
	$(MAKE) $(SCHEMA_TOOLS)
	$(VENV)/bin/ruff check graphwiz_monitoring graphwiz_trader workers tests bench
	$(VENV)/bin/mypy graphwiz_monitoring graphwiz_trader
	# Three processes on two cores, one test file each at a time: most tests wait on real worker processes.
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 3 --dist loadfile

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check graphwiz_monitoring graphwiz_trader workers tests bench
	$(VENV)/bin/mypy graphwiz_monitoring graphwiz_trader

bench: $(VENV)/.installed-dev
	$(PY) bench/ingest.py
	$(PY) bench/alert_latency.py
	$(PY) bench/load.py

clean:
	rm -rf $(VENV) .graphwiz .pytest_cache .ruff_cache .mypy_cache tools/grafana-schema/node_modules
