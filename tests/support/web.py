"""The web service in process (Flask's test client) in front of the real Auth and Books
Services started by the harness: every page's API call crosses real HTTP.

Test modules import the fixtures they use: ``from tests.support.web import web_apis, web``."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from common import migrations
from tests.support.clients import bearer, login
from tests.support.harness import STRONG_PASSWORD, Stack, build_stack
from web_service.app import create_app
from web_service.config import WebSettings

ADMIN_NAME = "web_admin"
ADMIN_PASSWORD = "an administrator's long passphrase"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
ADMIN_ENV = {"ESTANTE_ADMIN_USERNAME": ADMIN_NAME, "ESTANTE_ADMIN_PASSWORD": ADMIN_PASSWORD}


def start_apis(base_dir: Path, **env: str) -> Stack:
    """Auth and Books on SQLite, with a first administrator (``ADMIN_NAME``)."""
    stack = build_stack(base_dir, "sqlite", extra_env={**ADMIN_ENV, **env})
    try:
        stack.auth.start()
        stack.books.start()
    except Exception:
        stack.stop()
        raise
    return stack


def web_app(stack: Stack, data_dir: Path, **settings: Any) -> Flask:
    config = WebSettings(
        data_dir=data_dir,
        environment="test",
        auth_url=stack.auth_url,
        books_url=stack.books_url,
        log_level="WARNING",
        **settings,
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    config.prepare_data_dir()
    config.ensure_secret()
    if not config.redis_url:
        migrations.upgrade("web", config.database_url)
    return create_app(config)


@pytest.fixture(scope="module")
def web_apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_apis(tmp_path_factory.mktemp("web-apis"))
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def web(web_apis: Stack, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return web_app(web_apis, tmp_path_factory.mktemp("web-data"))


def csrf_of(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    found = CSRF_FIELD.search(page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def post_form(
    client: FlaskClient, path: str, data: dict[str, str], token_from: str | None = None
) -> TestResponse:
    """Post a form as a browser would: with the CSRF token of the page it came from."""
    token = csrf_of(client, token_from or path)
    return client.post(path, data={**data, "csrf_token": token})


def log_in(client: FlaskClient, username: str, password: str = STRONG_PASSWORD) -> None:
    response = post_form(
        client, "/login", {"username": username, "password": password}, token_from="/login"
    )
    assert response.status_code == 303, response.get_data(as_text=True)


def new_user(stack: Stack, client: FlaskClient, role: str = "librarian") -> str:
    """A fresh account with ``role``, logged in on ``client``."""
    username = f"u_{uuid.uuid4().hex[:10]}"
    registered = stack.register(username)
    if role != "librarian":
        admin = login(stack, ADMIN_NAME, ADMIN_PASSWORD)["access_token"]
        response = requests.patch(
            f"{stack.auth_url}/admin/users/{registered['user']['id']}",
            json={"role": role},
            headers=bearer(admin),
            timeout=10,
        )
        assert response.status_code == 200, response.text
    log_in(client, username)
    return username


def text_of(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def add_book(client: FlaskClient, **fields: str) -> int:
    """Add a book through the form; its id."""
    response = post_form(client, "/books/new", fields)
    assert response.status_code == 303, text_of(response)
    return int(response.headers["Location"].split("/books/")[1].split("?")[0])


def wait_out_the_staleness_bound(web: Flask) -> None:
    """Waits until a catalog version the worker confirmed before now is no longer *current*
    (twice the poll interval, web_service.catalog_version): only then must a view that finds
    the Books Service gone say so, instead of serving a page kept from before."""
    time.sleep(web.extensions["estante.web.catalog_version"].max_age + 0.1)
