# Every target bootstraps .venv from the lock files itself: a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help install install-dev run test lint format lock clean admin confusable-users openapi backup restore bench bench-servers bench-refresh bench-ceiling
BACKUP_DIR ?= backups/$(shell date -u +%Y%m%dT%H%M%SZ)

help:
	@echo "make run      start both services (SQLite in data/, keys generated on first start)"
	@echo "make test     run the whole test suite"
	@echo "make lint     ruff check + format check"
	@echo "make admin USERNAME=name [PROMOTE=1]   create an administrator (or promote a user)"
	@echo "make confusable-users   list accounts whose names read alike (changes nothing)"
	@echo "make openapi  rewrite docs/openapi/*.json from the services' schemas"
	@echo "make backup [BACKUP_DIR=dir]   back up both databases and the keys"
	@echo "make restore BACKUP_DIR=dir    restore them (stop the services first)"
	@echo "make bench    the catalog at 1k/100k/1M books on SQLite and PostgreSQL (several minutes)"
	@echo "make bench-ceiling [TREE=dir] [ARGS=...]  Estante against the same-shape ceiling, side by side"
	@echo "make lock     re-resolve requirements*.lock from pyproject.toml"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Estante needs Python 3.11 or newer (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.lock | $(PY)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	@touch $@

$(VENV)/.dev-installed: requirements-dev.lock | $(PY)
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	@touch $@ $(VENV)/.runtime-installed

install: $(VENV)/.runtime-installed

install-dev: $(VENV)/.dev-installed node_modules/.installed

# newman runs the Postman collection in the tests; without npm those tests skip (CI requires them).
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm not found: the Postman (newman) tests will be skipped"; \
	fi

run: install
	$(PY) -m ops.launcher

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

admin: install
	@test -n "$(USERNAME)" || { echo "usage: make admin USERNAME=name"; exit 2; }
	$(PY) -m auth_service.cli create-admin --username "$(USERNAME)" $(if $(PROMOTE),--promote)

confusable-users: install
	$(PY) -m auth_service.cli confusable-users

backup: install
	$(PY) -m ops.backup backup --to "$(BACKUP_DIR)"

restore: install
	@test -d "$(BACKUP_DIR)" || { echo "usage: make restore BACKUP_DIR=backups/<stamp>"; exit 2; }
	$(PY) -m ops.backup restore --from "$(BACKUP_DIR)"

# Several minutes; bench/catalog.py installs wrk when it can, or says it skipped.
bench: install-dev
	$(PY) -m bench.catalog

bench-servers: install-dev
	@command -v wrk >/dev/null || { echo "bench-servers needs wrk: apt-get install wrk"; exit 2; }
	$(PY) -m bench.servers

# In process, no wrk: TREE=../other-checkout measures that code instead, for a side-by-side.
bench-refresh: install-dev
	$(PY) -m bench.refresh $(if $(TREE),--tree $(TREE))

# Estante and ../shared/bench/ceiling.py side by side (a few minutes); TREE=dir serves another checkout.
bench-ceiling: install-dev
	$(PY) -m bench.ceiling_compare $(if $(TREE),--tree $(TREE)) $(ARGS)

openapi: install
	$(PY) -m ops.openapi_export

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lock: install-dev
	$(VENV)/bin/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -o requirements.lock -q
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.lock -q

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
