"""The web service in process in front of an in-memory Books API (httpx's mock transport), so
a test sees every call the web service makes and decides every answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from flask import Flask

from common import migrations
from tests.support.fake_books import FakeBooks, book
from web_service.app import create_app
from web_service.catalog_version import CatalogVersion
from web_service.config import WebSettings


@pytest.fixture
def books() -> FakeBooks:
    return FakeBooks([book(1, "Romanceiro da Inconfidência")])


@pytest.fixture
def make_web(tmp_path: Path, books: FakeBooks) -> Iterator[Callable[..., Flask]]:
    """A worker of the web service (another one each call, sharing the session store and the
    secret, as a server's workers do) in front of ``books``."""
    apps: list[Flask] = []

    def make(**settings: object) -> Flask:
        config = WebSettings(
            data_dir=tmp_path,
            environment="test",
            log_level="WARNING",
            books_url="http://books",
            **settings,  # type: ignore[arg-type]
        )
        config.prepare_data_dir()
        config.ensure_secret()
        migrations.upgrade("web", config.database_url)
        app = create_app(config)
        app.extensions["estante.web.books"].transport = httpx.MockTransport(books)
        apps.append(app)
        return app

    yield make
    for app in apps:
        version: CatalogVersion = app.extensions["estante.web.catalog_version"]
        version.close()


@pytest.fixture
def web(make_web: Callable[..., Flask]) -> Flask:
    """A worker that does not poll the catalog's version: every view asks the API."""
    return make_web(catalog_version_poll=0)
