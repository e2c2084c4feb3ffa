# Every target bootstraps .venv from the lock files itself: a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=
# Test processes (pytest-xdist; each test module runs whole in one of them); 0: in this one.
TEST_WORKERS ?= 3

.PHONY: help install install-dev run test lint format lock clean admin openapi backup restore bench bench-servers bench-refresh bench-web demo screenshots confusable-users bench-ceiling bench-memory bench-export bench-scale language-table
BACKUP_DIR ?= backups/$(shell date -u +%Y%m%dT%H%M%SZ)

help:
	@echo "make run      start the three services: web :5003, auth :5001, books :5002 (SQLite in data/)"
	@echo "make test     run the whole test suite and measure its coverage"
	@echo "make lint     ruff check + format check + mypy (strict on the domain modules)"
	@echo "make admin USERNAME=name [PROMOTE=1]   create an administrator (or promote a user)"
	@echo "make confusable-users   list accounts whose names read alike (changes nothing)"
	@echo "make screenshots  docs/screenshots/*.png again, from the demo catalog (needs Chromium)"
	@echo "make bench-web    the web catalog page against the Books API, and search-as-you-type p99"
	@echo "make demo     fill the running services with a demo catalog (~400 books; run again: adds nothing)"
	@echo "make openapi  rewrite docs/openapi/*.json from the services' schemas"
	@echo "make backup [BACKUP_DIR=dir]   back up both databases and the keys"
	@echo "make restore BACKUP_DIR=dir    restore them (stop the services first)"
	@echo "make bench    the catalog at 1k/100k/1M books on SQLite and PostgreSQL (several minutes)"
	@echo "make bench-import [SIZES=100000,1000000]   import and export rates over HTTP (many minutes)"
	@echo "make bench-export [BOOKS=100000]   export rows/s per format over HTTP, CPU and RSS (minutes)"
	@echo "make bench-ceiling [TREE=dir] [ARGS=...]  Estante against the same-shape ceiling, side by side"
	@echo "make bench-memory [TREE=dir]   RSS and PSS of every process of make run after a short load"
	@echo "make lock     re-resolve requirements*.lock from pyproject.toml"
	@echo "make language-table   common/language_table.py again from pycountry (after upgrading it)"

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

# The estante command: .venv/bin/estante runs this checkout's estante_cli (see estante_cli/launcher.py).
install: $(VENV)/.runtime-installed
	@$(PY) -m estante_cli.launcher $(VENV)/bin/estante

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

# Coverage of auth_service, books_service, common and ops, the services the tests start as
# processes included (pyproject.toml, [tool.coverage.run]); `.venv/bin/python -m coverage report`
# shows it per file afterwards.
# Bytecode caches are written even where PYTHONDONTWRITEBYTECODE is set (as in our container
# image): otherwise each test process and each of the hundreds of service processes the tests
# start compiles the project's modules again, and pytest rewrites every test module's asserts
# again in each test process (about 8 CPU seconds of a test process's collection, of 15).
test: install-dev
	@rm -rf .coverage-data
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope --cov --cov-report= $(PYTEST_ARGS)
	@echo "coverage: $$($(PY) -m coverage report --format=total)% of auth_service, books_service, web_service, estante_cli, common and ops"

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

# wrk (apt-get install wrk) against a 1M-book catalog; BOOKS=100000 for a quicker run.
bench-web: install-dev
	$(PY) -m bench.web $(if $(BOOKS),--books $(BOOKS))

# In process, no wrk: TREE=../other-checkout measures that code instead, for a side-by-side.
bench-refresh: install-dev
	$(PY) -m bench.refresh $(if $(TREE),--tree $(TREE))

# p99 at 1M books against 1k, every request of issue 12 (ARGS="--backend postgres"; catalogs kept).
bench-scale: install-dev
	$(PY) -m bench.scale $(ARGS)

# A make run system in a temporary directory, a short mixed load, then every process's memory.
bench-memory: install-dev
	$(PY) -m bench.memory $(if $(TREE),--tree $(TREE))

# Estante and ../shared/bench/ceiling.py side by side (a few minutes); TREE=dir serves another checkout.
bench-ceiling: install-dev
	$(PY) -m bench.ceiling_compare $(if $(TREE),--tree $(TREE)) $(ARGS)

# Generates Goodreads-style files and imports them through the real service over HTTP, then
# exports in every format; SIZES=100000 for a shorter run.
SIZES ?= 100000,1000000
bench-import: install-dev
	$(PY) -m bench.import_export --sizes $(SIZES)

# A catalog seeded by bench/seed.py, exported over HTTP in every format (BOOKS=1000000 for 1M).
bench-export: install-dev
	$(PY) -m bench.export $(if $(BOOKS),--books $(BOOKS))

# Needs the services running (make run). Logs in as DEMO_USERNAME (demo), created as an
# administrator by the auth CLI when missing, its password kept in data/demo-password.
demo: install
	$(PY) -m ops.demo

# Its own stack on free ports, filled by make demo, photographed in Debian's Chromium.
screenshots: install-dev
	$(PY) -m tests.browser.screenshots

openapi: install
	$(PY) -m ops.openapi_export

language-table: install
	$(PY) -m ops.language_table

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lock: install-dev
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.lock -q
	# The runtime lock takes the dev lock's versions: the tests run what `make run` runs.
	$(VENV)/bin/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -c requirements-dev.lock -o requirements.lock -q

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .mypy_cache .coverage-data
