# The engine's commands. `make run` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-unit test-integration lint fmt typecheck db-migrate db-seed db-reset reconcile histories replay versions chaos bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: setup  ## the whole engine on local defaults (README.md); Ctrl-C stops it
	$(PY) -m devstack

test: setup  ## every test: unit, workflow (time skipping), integration and end to end
	$(PY) -m pytest

test-unit: setup  ## domain and workflow tests; no servers but the Temporal test server
	$(PY) -m pytest tests/unit tests/workflow

test-integration: setup  ## against the real parts, and make run end to end
	$(PY) -m pytest tests/integration tests/e2e

lint: setup  ## ruff, and the layering contracts in pyproject.toml (import-linter)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: setup
	$(PY) -m mypy

fmt: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

db-migrate: setup  ## alembic upgrade head on DATABASE_URL or the embedded PostgreSQL
	$(PY) -m devstack.db migrate

db-seed: setup
	$(PY) -m devstack.db seed

chaos: setup  ## orders (split shipments, edits, returns) under SIGKILLs and outages of every part; every count it prints ends 0
	env -u DATABASE_URL $(PY) -m tests.chaos.run --full --orders $(or $(ORDERS),200)

bench: setup  ## orders/s through the API beside a same-shape no-op baseline; ends ratio=<engine/baseline>
	env -u DATABASE_URL $(PY) -m bench.run --orders $(or $(ORDERS),500) --concurrency $(or $(CONCURRENCY),20) \
		--workers $(or $(WORKERS),1)

bench-export: setup  ## GET /v1/orders/export over 100,000 orders: rows/s and the API's RSS growth (fails at 50 MiB or more)
	env -u DATABASE_URL $(PY) -m bench.export --orders $(or $(ORDERS),100000)

histories: setup  ## re-record tests/histories/ after a deliberate, compatible workflow change
	$(PY) -m tests.replay.record

replay: setup  ## before a deploy: replay ORDER=<id>, FILE=<export> or SAMPLE=200 [SINCE=7d] on this checkout (docs/runbook.md)
	$(PY) -m workers.replay $(if $(ORDER),--order '$(ORDER)') $(if $(FILE),--file '$(FILE)') \
		$(if $(SAMPLE),--sample '$(SAMPLE)' --since '$(or $(SINCE),7d)')

versions: setup  ## the worker deployment's versions, their status and open orders (docs/runbook.md)
	$(PY) -m workers.versions

reconcile: setup  ## compare the payment ledger with Stripe now (make run must be up)
	$(PY) -m workers.reconcile

db-reset: setup  ## drop every table, migrate and seed again
	$(PY) -m devstack.db reset

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
