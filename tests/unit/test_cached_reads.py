"""The public reads served in front of Flask (``books_service.cached_reads``): a cached book, a
cached page of ``GET /books`` (a list, a search) and their 304s get Flask's own answer byte for
byte, headers included, with the same log line and metrics; a change committed by another
worker is seen by the next read; and every request the route cannot answer from the caches is
Flask's. The app is asked both ways: through its WSGI app
(the route first) and through Flask alone (what the route hands on). SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.test import TestResponse

from books_service import catalog
from books_service.app import create_app, prepare
from books_service.book_rules import validate_book
from books_service.cached_reads import BOOK_RULE, LIST_RULE, CachedReads
from books_service.config import BooksSettings
from books_service.page_cache import QueryKeys
from tests.support.metrics import requests_counted
from tests.support.postgres import PostgresServer
from tests.support.served_books import Worker
from tests.support.served_books import worker as books_worker

TRACE = {"X-Request-ID": "trace-42"}


def worker(settings: BooksSettings) -> Worker:
    """One worker of the Books app as served, noting each path Flask's hooks see."""
    return books_worker(settings, CachedReads)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def workers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Worker, Worker]]:
    """Two workers of one catalog, holding three books."""
    data_dir = tmp_path_factory.mktemp("book-route")
    url = None
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database("book_route")
    settings = BooksSettings(
        data_dir=data_dir,
        jwks_url="http://127.0.0.1:9/jwks.json",
        **({"database_url": url} if url else {}),
    )
    prepare(settings)
    pair = worker(settings), worker(settings)
    with pair[0].db.transaction() as session:
        for n in range(3):
            catalog.add_book(
                session, validate_book({"title": f"Livro {n}", "author": "Ana"}), by="ana"
            )
    yield pair
    for each in pair:
        each.db.dispose()


def same_answer(ours: TestResponse, theirs: TestResponse) -> None:
    assert ours.status == theirs.status
    assert ours.headers.to_wsgi_list() == theirs.headers.to_wsgi_list()
    assert ours.data == theirs.data


def served_count(status: int) -> float:
    return requests_counted("books_service", "GET", BOOK_RULE, status)


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [r.fields for r in caplog.records if r.name == "estante.access"]  # type: ignore[attr-defined]


def test_a_cached_book_is_answered_as_flask_answers_it_without_flask(
    workers: tuple[Worker, Worker], caplog: pytest.LogCaptureFixture
) -> None:
    one, _ = workers
    theirs = one.flask_only.get("/books/2", headers=TRACE)  # Flask's answer, now cached
    assert theirs.status_code == 200
    caplog.set_level(logging.INFO, logger="estante.access")
    caplog.clear()
    counted = served_count(200)
    one.seen.clear()
    ours = one.served.get("/books/2", headers=TRACE)
    assert one.seen == []  # no Flask hook ran
    same_answer(ours, theirs)
    assert served_count(200) == counted + 1
    [line] = access_lines(caplog)
    assert line["path"] == "/books/2" and line["status"] == 200 and line["method"] == "GET"
    assert line["request_id"] == "trace-42" and line["user_id"] is None
    assert line["service"] == "books_service" and isinstance(line["duration_ms"], float)
    # A request id of its own when the caller's is not a sane one.
    made = one.served.get("/books/2", headers={"X-Request-ID": "no spaces"})
    assert len(made.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("given", ['"2-1"', 'W/"2-1"', '"9-9", "2-1"', "*"])
def test_a_304_is_answered_as_flask_answers_it_without_flask(
    workers: tuple[Worker, Worker], caplog: pytest.LogCaptureFixture, given: str
) -> None:
    one, _ = workers
    one.served.get("/books/2")
    headers = {**TRACE, "If-None-Match": given}
    theirs = one.flask_only.get("/books/2", headers=headers)
    one.seen.clear()
    ours = one.served.get("/books/2", headers=headers)
    assert one.seen == []
    assert ours.status_code == 304
    same_answer(ours, theirs)
    # A poller's "nothing changed" is logged at DEBUG, as Flask's hook logs it.
    caplog.set_level(logging.INFO, logger="estante.access")
    caplog.clear()
    polled = one.served.get("/books/2", headers={**headers, "X-Estante-Poll": "1"})
    assert polled.status_code == 304 and access_lines(caplog) == []


def test_a_book_changed_through_another_worker_is_read_changed_at_once(
    workers: tuple[Worker, Worker],
) -> None:
    one, other = workers
    before = one.served.get("/books/3")
    assert one.served.get("/books/3").data == before.data  # cached
    etag = before.headers["ETag"]
    other.db.write(
        lambda connection: catalog.patch_book(connection, 3, {"title": "Mudado"}, by="ana")
    )
    after = one.served.get("/books/3")
    assert after.status_code == 200 and after.get_json()["title"] == "Mudado"
    assert after.headers["ETag"] != etag
    again = one.served.get("/books/3", headers={"If-None-Match": etag})
    assert again.status_code == 200  # the old ETag no longer gets a 304
    with other.db.transaction() as session:
        catalog.delete_book(session, 3, by="ana")
    assert one.served.get("/books/3").status_code == 404
    assert (
        one.served.get("/books/3", headers={"If-None-Match": after.headers["ETag"]}).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/books/1?x=1", {}),
        ("HEAD", "/books/1", {}),
        ("GET", "/books/01", {}),
        ("GET", "/books/1/", {}),
        ("GET", "/books/1/history", {}),
        ("GET", "/books/99999", {}),
        ("GET", "/books/99999999999999999999999", {}),
        ("GET", "/books/١", {}),
        ("GET", "/books/1", {"If-None-Match": '"' + "x" * 9000 + '"'}),
        ("DELETE", "/books/1", {}),
    ],
)
def test_what_the_route_cannot_answer_from_the_cache_is_flasks(
    workers: tuple[Worker, Worker], method: str, path: str, headers: dict[str, str]
) -> None:
    one, _ = workers
    one.served.get("/books/1")  # cached
    one.seen.clear()
    ours = one.served.open(path, method=method, headers={**TRACE, **headers})
    assert one.seen, "Flask did not answer"
    theirs = one.flask_only.open(path, method=method, headers={**TRACE, **headers})
    assert ours.status_code == theirs.status_code
    assert ours.data == theirs.data


def test_a_miss_reads_the_catalogs_version_once(
    workers: tuple[Worker, Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    one, other = workers
    with other.db.transaction() as session:  # a new version: every book misses
        catalog.add_book(session, validate_book({"title": "Outro", "author": "Ana"}), by="ana")
    reader = one.app.extensions["estante.catalog_version"]
    reads: list[int] = []
    read = reader.read
    monkeypatch.setattr(reader, "read", lambda: reads.append(1) or read())
    one.seen.clear()
    assert one.served.get("/books/1").status_code == 200
    assert one.seen == ["/books/1"] and len(reads) == 1
    assert one.served.get("/books/1").status_code == 200
    assert one.seen == ["/books/1"] and len(reads) == 2


def test_the_route_sits_inside_the_proxy_fix_and_a_prefix_has_pages_of_its_own(
    tmp_path: Path,
) -> None:
    settings = BooksSettings(data_dir=tmp_path, jwks_url="http://127.0.0.1:9/x", trusted_proxies=1)
    prepare(settings)
    app = create_app(settings)
    assert isinstance(app.wsgi_app.app, CachedReads)  # type: ignore[attr-defined]
    client = app.test_client()
    with app.extensions["estante.db"].transaction() as session:
        catalog.add_book(session, validate_book({"title": "Um", "author": "Ana"}), by="ana")
    plain = [client.get("/books?limit=1") for _ in range(2)]
    prefixed = [
        client.get("/books?limit=1", headers={"X-Forwarded-Prefix": "/api"}) for _ in range(2)
    ]
    assert plain[1].headers["Link"].startswith("</books?")
    assert prefixed[1].headers["Link"].startswith("</api/books?")
    assert plain[1].headers["ETag"] != prefixed[1].headers["ETag"]
    app.extensions["estante.db"].dispose()


PAGES = ["/books?limit=2", "/books?q=livro&limit=50", "/books?sort=-title&limit=2"]


@pytest.mark.parametrize("page", PAGES)
def test_a_cached_page_is_answered_as_flask_answers_it_without_flask(
    workers: tuple[Worker, Worker], caplog: pytest.LogCaptureFixture, page: str
) -> None:
    one, _ = workers
    theirs = one.flask_only.get(page, headers=TRACE)  # validated and cached by Flask
    assert theirs.status_code == 200
    caplog.set_level(logging.INFO, logger="estante.access")
    caplog.clear()
    counted = requests_counted("books_service", "GET", LIST_RULE, 200)
    one.seen.clear()
    ours = one.served.get(page, headers=TRACE)
    assert one.seen == []
    same_answer(ours, theirs)
    assert "X-Total-Count" in ours.headers and "Link" in ours.headers
    assert requests_counted("books_service", "GET", LIST_RULE, 200) == counted + 1
    [line] = access_lines(caplog)
    assert (line["path"], line["status"], line["request_id"]) == ("/books", 200, "trace-42")
    # Its 304, as Flask answers it.
    headers = {**TRACE, "If-None-Match": ours.headers["ETag"]}
    theirs = one.flask_only.get(page, headers=headers)
    one.seen.clear()
    ours = one.served.get(page, headers=headers)
    assert one.seen == [] and ours.status_code == 304
    same_answer(ours, theirs)


def test_a_page_changed_through_another_worker_is_read_changed_at_once(
    workers: tuple[Worker, Worker],
) -> None:
    one, other = workers
    page = "/books?q=novidade&limit=50"
    before = [one.served.get(page) for _ in range(2)]
    assert before[1].get_json() == [] and before[1].headers["X-Total-Count"] == "0"
    with other.db.transaction() as session:
        catalog.add_book(session, validate_book({"title": "Novidade", "author": "Ana"}), by="ana")
    after = one.served.get(page)
    assert [book["title"] for book in after.get_json()] == ["Novidade"]
    assert after.headers["X-Total-Count"] == "1"
    assert after.headers["ETag"] != before[1].headers["ETag"]
    stale = one.served.get(page, headers={"If-None-Match": before[1].headers["ETag"]})
    assert stale.status_code == 200 and stale.headers["X-Total-Count"] == "1"


@pytest.mark.parametrize(
    "page",
    ["/books?limit=3&never=validated", "/books?limit=0", "/books?sort=nonsense", "/books?limit=2"],
)
def test_a_query_flask_has_not_validated_before_is_flasks(
    workers: tuple[Worker, Worker], page: str
) -> None:
    one, _ = workers
    one.app.extensions["estante.page_cache"].queries = QueryKeys()  # nothing validated yet
    one.seen.clear()
    first = one.served.get(page, headers=TRACE)
    assert one.seen == ["/books"]  # Flask's
    again = one.served.get(page, headers=TRACE)
    if first.status_code == 200:
        assert one.seen == ["/books"]  # validated by Flask the first time, then served in front
    else:
        assert first.status_code == 422 and one.seen == ["/books"] * 2  # never remembered
    theirs = one.flask_only.get(page, headers=TRACE)
    assert again.status_code == theirs.status_code
    assert again.data == theirs.data
