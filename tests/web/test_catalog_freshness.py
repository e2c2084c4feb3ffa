"""The staleness bound against the real Auth and Books Services: a change made through the API
by someone else shows on the catalog page within twice the poll's interval, and a change made
through the web shows at once to the browser that made it, on every worker.

The bound is checked without timing the server: every view that *started* after the bound had
passed must show the change; views that started before may or may not."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.support.clients import bearer
from tests.support.fake_books import HTMX
from tests.support.harness import Stack
from tests.support.web import add_book, csrf_of, new_user, text_of, web_apis, web_app
from web_service.catalog_version import CatalogVersion
from web_service.cookies import COOKIE_NAME
from web_service.views.catalog import WROTE_COOKIE

__all__ = ["web_apis"]  # the fixture
POLL = 0.25
BOUND = 2 * POLL
GIVE_UP = 30.0  # a view that started after the bound and is stale fails long before this


@pytest.fixture(scope="module")
def workers(web_apis: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Flask]]:
    """Two workers of one web service (one session store, one secret), polling every 0.25 s."""
    data = tmp_path_factory.mktemp("web-workers")
    apps = [web_app(web_apis, data, catalog_version_poll=POLL) for _ in range(2)]
    yield apps
    for app in apps:
        version: CatalogVersion = app.extensions["estante.web.catalog_version"]
        version.close()


def shown_within_the_bound(client: FlaskClient, path: str, wanted: str, unwanted: str) -> None:
    """Views of ``path`` from the moment the change was committed (just before this call):
    stale ones only while the bound has not passed."""
    committed = time.monotonic()
    for headers in ({}, HTMX):
        while True:
            started = time.monotonic()
            page = text_of(client.get(path, headers=headers))
            if wanted in page and (not unwanted or unwanted not in page):
                break
            assert started - committed < BOUND, f"stale {started - committed:.3f} s after"
            assert started - committed < GIVE_UP
            time.sleep(0.02)


def test_a_change_made_through_the_api_shows_on_the_web_within_the_bound(
    workers: list[Flask], web_apis: Stack
) -> None:
    word = f"zf{uuid.uuid4().hex[:6]}"
    path = f"/?q={word}"
    clients = [web.test_client() for web in workers]
    for client in clients:  # every worker polling, its pages kept
        for headers in ({}, HTMX):
            for _ in range(3):
                assert 'id="no-results"' in text_of(client.get(path, headers=headers))
    token = web_apis.token()
    added = requests.post(
        f"{web_apis.books_url}/books",
        json={"title": f"Mar absoluto {word}", "author": "Cecília Meireles"},
        headers=bearer(token),
        timeout=10,
    )
    assert added.status_code == 201, added.text
    for client in clients:
        shown_within_the_bound(client, path, f"Mar absoluto {word}", 'id="no-results"')
    edited = requests.patch(
        f"{web_apis.books_url}/books/{added.json()['id']}",
        json={"title": f"Vaga música {word}"},
        headers={**bearer(token), "If-Match": added.headers["ETag"]},
        timeout=10,
    )
    assert edited.status_code == 200, edited.text
    for client in clients:
        shown_within_the_bound(client, path, f"Vaga música {word}", "Mar absoluto")
    deleted = requests.delete(
        f"{web_apis.books_url}/books/{added.json()['id']}",
        headers={**bearer(token), "If-Match": edited.headers["ETag"]},
        timeout=10,
    )
    assert deleted.status_code == 204, deleted.text
    for client in clients:
        shown_within_the_bound(client, path, 'id="no-results"', "Vaga música")


def test_a_book_added_through_the_web_shows_at_once_to_its_librarian_on_every_worker(
    workers: list[Flask], web_apis: Stack
) -> None:
    word = f"zg{uuid.uuid4().hex[:6]}"
    path = f"/?q={word}"
    one, other = workers
    librarian = one.test_client()
    new_user(web_apis, librarian)
    on_other = other.test_client()
    session = librarian.get_cookie(COOKIE_NAME)
    assert session is not None
    on_other.set_cookie(COOKIE_NAME, session.value)  # the same browser, on the other worker
    for _ in range(3):  # both workers keep the pages without the book
        for client in (librarian, on_other):
            for headers in ({}, HTMX):
                assert 'id="no-results"' in text_of(client.get(path, headers=headers))

    def the_browser_wrote() -> None:
        wrote = librarian.get_cookie(WROTE_COOKIE)
        assert wrote is not None
        on_other.set_cookie(WROTE_COOKIE, wrote.value)

    book_id = add_book(librarian, title=f"Romanceiro {word}", authors="Cecília Meireles")
    the_browser_wrote()
    for client in (librarian, on_other):
        for headers in ({}, HTMX):
            assert f"Romanceiro {word}" in text_of(client.get(path, headers=headers))
    form = text_of(librarian.get(f"/books/{book_id}/delete"))
    etag = re.search(r'name="etag" value="([^"]*)"', form)
    assert etag
    deleted = librarian.post(
        f"/books/{book_id}/delete",
        data={"csrf_token": csrf_of(librarian, "/"), "etag": etag.group(1).replace("&#34;", '"')},
    )
    assert deleted.status_code == 303, text_of(deleted)
    the_browser_wrote()
    for client in (librarian, on_other):
        for headers in ({}, HTMX):
            assert f"Romanceiro {word}" not in text_of(client.get(path, headers=headers))
