"""The web service in process (Flask's test client) in front of the real Auth and Books
Services started by the harness: every page's API call crosses real HTTP."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from common import migrations
from tests.support.harness import STRONG_PASSWORD, Stack
from web_service.app import create_app
from web_service.config import WebSettings

ADMIN_NAME = "web_admin"
ADMIN_PASSWORD = "an administrator's long passphrase"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def web_app(stack: Stack, data_dir: Path, **settings: object) -> Flask:
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


def csrf_of(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    found = CSRF_FIELD.search(page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def log_in(client: FlaskClient, username: str, password: str = STRONG_PASSWORD) -> None:
    token = csrf_of(client)
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.get_data(as_text=True)


def new_librarian(stack: Stack, client: FlaskClient) -> str:
    """A fresh account (librarian: the Auth Service's default role), logged in."""
    username = f"lib_{uuid.uuid4().hex[:10]}"
    stack.register(username)
    log_in(client, username)
    return username
