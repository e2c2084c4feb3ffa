"""What a service's processes import, and so keep in memory in every worker: only what they use."""

from __future__ import annotations

import subprocess
import sys

from common.config import PROJECT_ROOT


def imported_after(statement: str) -> set[str]:
    """The top-level packages a fresh Python has loaded after running ``statement``."""
    listing = "print(' '.join({m.split('.')[0] for m in sys.modules}))"
    code = f"{statement}; import sys; {listing}"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_the_web_service_loads_neither_redis_nor_httpxs_command_line_client() -> None:
    loaded = imported_after("import web_service.app")
    assert "httpx" in loaded  # what it talks to the APIs with
    assert not loaded & {"redis", "rich", "pygments", "flask_openapi3"}


def test_the_web_service_never_loads_sqlalchemy() -> None:
    """Its sessions table is reached through the DB-API (common/dbapi.py): SQLAlchemy would
    cost each of its processes about 18 MB. (A database not at the head is migrated by the
    child process that prepares a start, never by a worker.)"""
    loaded = imported_after(
        "import tempfile; from web_service.app import create_app; "
        "from web_service.config import WebSettings; "
        "s = WebSettings(data_dir=tempfile.mkdtemp(), auto_migrate=False); "
        "c = create_app(s).test_client(); c.get('/readyz'); c.get('/login')"
    )
    assert "flask" in loaded
    assert not loaded & {"sqlalchemy", "alembic", "psycopg"}


def test_the_api_services_on_sqlite_load_no_httpx_redis_or_psycopg() -> None:
    for service in ("books_service", "auth_service"):
        loaded = imported_after(f"import {service}.app")
        assert not loaded & {"httpx", "redis", "rich", "psycopg"}


def test_checking_a_books_language_does_not_load_pycountry() -> None:
    """pycountry's table is 5.8 MB in each process that looks a language up: the
    services read common/languages.py's compact copy."""
    loaded = imported_after(
        "from books_service.app import create_app; from books_service.book_rules import "
        "normalise_language; normalise_language('por'); "
        "from web_service.formatting import language_name; language_name('aaa', 'en')"
    )
    assert "books_service" in loaded
    assert "pycountry" not in loaded


def test_the_administration_command_loads_none_of_the_web_app() -> None:
    """``python -m auth_service.cli`` prepares the database as a start does, but serves
    nothing: Flask's app, its routes and OpenAPI models were a third of each command's
    start-up, and the tests run the command dozens of times."""
    loaded = imported_after("import auth_service.cli")
    assert "sqlalchemy" in loaded  # what it works with
    assert not loaded & {"flask_openapi3", "flask_limiter", "granian"}
