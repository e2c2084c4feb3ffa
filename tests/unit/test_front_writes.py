"""``POST /books`` served in front of Flask (``books_service.front_writes``): a book added there
gets Flask's own answer byte for byte (status, headers in order, body), with the same log line
and metrics, and is at once in every read (the book, the pages and their count, its history,
search); every request the route cannot answer is Flask's, with Flask's error, and a write that
fails there is answered by Flask's error handlers as from the view. SQLite and PostgreSQL.

A 201 is compared between two workers of two catalogs in the same state, at a fixed clock: the
same request makes the same book (id, timestamps) in both, one worker adding it in front of
Flask, the other through Flask alone."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy.exc import OperationalError
from werkzeug.test import Client, TestResponse

from auth_service.keys import KeyRing
from books_service import book_writes, catalog
from books_service.app import prepare
from books_service.config import BooksSettings
from books_service.front_writes import LIST_RULE, FrontWrites
from tests.support.metrics import requests_counted
from tests.support.postgres import PostgresServer
from tests.support.served_books import Worker
from tests.support.served_books import worker as books_worker
from tests.support.tokens import good_claims

TRACE = "trace-post-7"
NOW = datetime(2026, 12, 3, 17, 0, 0, 123456, tzinfo=UTC)


class Revoked:
    """A revocation list naming the jtis put in it (both the route and Flask ask it)."""

    def __init__(self) -> None:
        self.jtis: set[str] = set()

    def is_revoked(self, claims: dict[str, Any]) -> bool:
        return claims.get("jti") in self.jtis


def worker(settings: BooksSettings) -> Worker:
    served = books_worker(settings, FrontWrites)
    served.app.extensions["estante.revocations"] = Revoked()
    return served


def token(keys: Path, *, roles: tuple[str, ...] = ("librarian",), ttl: int = 600) -> str:
    """An access token signed with the key ring at ``keys``, for the user "bia"."""
    key = KeyRing.load(keys).active
    exp = int(time.time()) + ttl
    claims = good_claims(sub="7", username="bia", roles=list(roles), exp=exp, fresh=None)
    return jwt.encode(
        claims, key.private_pem, algorithm="EdDSA", headers={"kid": key.kid, "typ": "at+jwt"}
    )


@dataclass
class Catalogs:
    front: Worker  # answers in front of Flask
    flask: Worker  # another catalog in the same state, answered by Flask alone
    keys: Path
    librarian: str


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def catalogs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Catalogs]:
    keys = tmp_path_factory.mktemp("post-keys")
    ring = KeyRing.ensure(keys)
    pair = []
    for name in ("a", "b"):
        data_dir = tmp_path_factory.mktemp(f"post-route-{name}")
        url = None
        if request.param == "postgres":
            server: PostgresServer = request.getfixturevalue("postgres")
            url = server.create_database(f"post_front_{name}")
        settings = BooksSettings(
            data_dir=data_dir,
            jwks_url="http://127.0.0.1:9/jwks.json",
            jwt_leeway=0,
            **({"database_url": url} if url else {}),
        )
        settings.prepare_data_dir()
        settings.jwks_cache_path.write_text(json.dumps(ring.jwks()))
        prepare(settings)
        pair.append(worker(settings))
    front, flask = pair
    librarian = token(keys)
    # The first request of a token is Flask's (it verifies it): the same one in both catalogs.
    for each in pair:
        first = each.served.post(
            "/books", json={"title": "Primeiro", "author": "Ana"}, headers=auth(librarian)
        )
        assert first.status_code == 201, first.get_json()
    yield Catalogs(front, flask, keys, librarian)
    for each in pair:
        each.db.dispose()


def auth(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def same_answer(ours: TestResponse, theirs: TestResponse) -> None:
    assert ours.status == theirs.status
    assert ours.headers.to_wsgi_list() == theirs.headers.to_wsgi_list()
    assert ours.data == theirs.data


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [r.fields for r in caplog.records if r.name == "estante.access"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("prefix", ["", "/api/books"])
def test_a_book_added_in_front_of_flask_is_answered_as_flask_answers_it(
    catalogs: Catalogs,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    prefix: str,
) -> None:
    monkeypatch.setattr(catalog, "utcnow", lambda: NOW)
    body = {
        "title": f"Memórias {prefix}",
        "author": "Machado de Assis",
        "subjects": ["Romance"],
        "language": "pt",
    }
    headers = {**auth(catalogs.librarian), "X-Request-ID": TRACE}
    environ = {"SCRIPT_NAME": prefix}
    theirs = catalogs.flask.flask_only.post(
        "/books", json=body, headers=headers, environ_overrides=environ
    )
    caplog.set_level(logging.INFO, logger="estante.access")
    caplog.clear()
    counted = requests_counted("books_service", "POST", LIST_RULE, 201)
    catalogs.front.seen.clear()
    ours = catalogs.front.served.post(
        "/books", json=body, headers=headers, environ_overrides=environ
    )
    assert catalogs.front.seen == []  # no Flask hook ran
    assert ours.status_code == 201, ours.get_json()
    same_answer(ours, theirs)
    assert ours.headers["Location"] == f"{prefix}/books/{ours.get_json()['id']}"
    assert requests_counted("books_service", "POST", LIST_RULE, 201) == counted + 1
    [line] = access_lines(caplog)
    assert line["path"] == "/books" and line["status"] == 201 and line["method"] == "POST"
    assert line["request_id"] == TRACE and line["user_id"] == 7
    assert isinstance(line["duration_ms"], float)
    for each in (catalogs.front, catalogs.flask):  # the two catalogs kept alike
        made = each.served.post(
            "/books", json={**body, "title": f"Outra {prefix}"}, headers=auth(catalogs.librarian)
        )
        assert made.status_code == 201 and len(made.headers["X-Request-ID"]) == 32


def test_a_book_added_in_front_is_in_every_read_at_once(catalogs: Catalogs) -> None:
    front = catalogs.front
    title = f"Quincas Borba {uuid.uuid4().hex[:6]}"
    page = front.served.get("/books?limit=1")  # cached, with the count
    again = front.served.get("/books?limit=1")
    assert again.headers["ETag"] == page.headers["ETag"]
    front.seen.clear()
    added = front.served.post(
        "/books", json={"title": title, "author": "Machado"}, headers=auth(catalogs.librarian)
    )
    assert added.status_code == 201 and front.seen == []
    book_id = added.get_json()["id"]
    one = front.served.get(f"/books/{book_id}")
    assert one.status_code == 200 and one.data == added.data
    assert one.headers["ETag"] == added.headers["ETag"]
    after = front.served.get("/books?limit=1", headers={"If-None-Match": page.headers["ETag"]})
    assert after.status_code == 200
    assert int(after.headers["X-Total-Count"]) == int(page.headers["X-Total-Count"]) + 1
    history = front.served.get(f"/books/{book_id}/history").get_json()
    assert [entry["action"] for entry in history] == ["created"]
    assert history[0]["changed_by"] == "bia"
    found = front.served.get("/books", query_string={"q": title}).get_json()
    assert [book["id"] for book in found] == [book_id]


def test_a_duplicate_and_a_failed_write_are_answered_by_flask_as_from_the_view(
    catalogs: Catalogs, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    front = catalogs.front
    headers = {**auth(catalogs.librarian), "X-Request-ID": TRACE}
    isbn = "9780306406157"
    book = {"title": "Dom Casmurro", "author": "Machado", "isbn": isbn}
    if front.served.get("/books", query_string={"isbn": isbn}).get_json() == []:
        assert front.served.post("/books", json=book, headers=headers).status_code == 201
    counted = requests_counted("books_service", "POST", LIST_RULE, 409)
    caplog.set_level(logging.INFO, logger="estante.access")
    caplog.clear()
    front.seen.clear()
    ours = front.served.post("/books", json=book, headers=headers)
    assert front.seen == ["/books"]  # handed to Flask after the write failed
    theirs = front.flask_only.post("/books", json=book, headers=headers)
    assert ours.status_code == 409
    same_answer(ours, theirs)
    assert requests_counted("books_service", "POST", LIST_RULE, 409) == counted + 2
    lines = access_lines(caplog)
    assert [(line["status"], line["user_id"]) for line in lines] == [(409, 7), (409, 7)]
    # Any error of the write: Flask's handlers (503 for a database that is not there, 500).
    # The write is tried once: Flask answers its error, it does not write again.
    for error in (OperationalError("INSERT", {}, Exception("unable to open")), RuntimeError()):
        tried: list[object] = []

        def failing(*args: object, error: Exception = error, tried: list[object] = tried) -> None:
            tried.append(args)
            raise error

        monkeypatch.setattr(book_writes, "add", failing)
        new = {"title": f"Nunca {uuid.uuid4().hex}", "author": "Ninguém"}
        front.seen.clear()
        ours = front.served.post("/books", json=new, headers=headers)
        assert front.seen == ["/books"] and len(tried) == 1
        theirs = front.flask_only.post("/books", json=new, headers=headers)
        assert ours.status_code in (500, 503)
        same_answer(ours, theirs)


def bad_requests(keys: Path, librarian: str) -> list[tuple[str, dict[str, Any]]]:
    good = json.dumps({"title": "Helena", "author": "Machado"})
    reader = token(keys, roles=("reader",))
    return [
        ("no token", {"data": good, "headers": {"Content-Type": "application/json"}}),
        ("a bad token", {"json": {"title": "x", "author": "y"}, "headers": auth("a.b.c")}),
        ("a reader", {"json": {"title": "x", "author": "y"}, "headers": auth(reader)}),
        (
            "lower-case scheme",
            {
                "json": {"title": "x", "author": "y"},
                "headers": {"Authorization": f"bearer {librarian}"},
            },
        ),
        ("text", {"data": good, "headers": {**auth(librarian), "Content-Type": "text/plain"}}),
        ("no type", {"data": good, "headers": auth(librarian)}),
        ("not JSON", {"data": "{nope", "headers": json_headers(librarian)}),
        ("a list", {"data": "[1]", "headers": json_headers(librarian)}),
        ("empty", {"data": "", "headers": json_headers(librarian)}),
        ("no title", {"data": '{"author": "a"}', "headers": json_headers(librarian)}),
        (
            "unknown field",
            {"data": '{"title": "t", "author": "a", "x": 1}', "headers": json_headers(librarian)},
        ),
        (
            "bad ISBN",
            {
                "data": '{"title": "t", "author": "a", "isbn": "123"}',
                "headers": json_headers(librarian),
            },
        ),
        (
            "too big",
            {
                "data": '{"title": "' + "t" * 2_000_000 + '", "author": "a"}',
                "headers": json_headers(librarian),
            },
        ),
        (
            "repeated query",
            {
                "data": good,
                "headers": json_headers(librarian),
                "query_string": "allow_duplicate=1&allow_duplicate=x",
            },
        ),
        (
            "bad query",
            {
                "data": good,
                "headers": json_headers(librarian),
                "query_string": "allow_duplicate=maybe",
            },
        ),
        ("trailing slash", {"data": good, "headers": json_headers(librarian), "path": "/books/"}),
    ]


def json_headers(librarian: str) -> dict[str, str]:
    return {**auth(librarian), "Content-Type": "application/json"}


def test_every_request_the_route_cannot_answer_gets_flasks_answer(catalogs: Catalogs) -> None:
    front = catalogs.front
    for name, kwargs in bad_requests(catalogs.keys, catalogs.librarian):
        path = kwargs.pop("path", "/books")
        headers = {**kwargs.pop("headers"), "X-Request-ID": TRACE}
        front.served.post(path, headers=headers, **kwargs)  # a token Flask now verified
        front.seen.clear()
        ours = front.served.post(path, headers=headers, **kwargs)
        assert front.seen == [path], name  # Flask answered it
        theirs = front.flask_only.post(path, headers=headers, **kwargs)
        assert 400 <= ours.status_code < 500, name
        same_answer(ours, theirs)


def test_a_revoked_or_expired_token_is_refused_at_once(catalogs: Catalogs) -> None:
    front = catalogs.front
    revoked: Revoked = front.app.extensions["estante.revocations"]
    short = token(catalogs.keys, ttl=2)
    for value in (token(catalogs.keys), short):
        book = {"title": f"Esaú {uuid.uuid4().hex}", "author": "Machado"}
        assert front.served.post("/books", json=book, headers=auth(value)).status_code == 201
        book["title"] += " e Jacó"
        front.seen.clear()
        assert front.served.post("/books", json=book, headers=auth(value)).status_code == 201
        assert front.seen == []  # remembered: served in front
    revoked.jtis.add(jwt.decode(catalogs.librarian, options={"verify_signature": False})["jti"])
    try:
        refused = front.served.post(
            "/books", json={"title": "Não", "author": "N"}, headers=auth(catalogs.librarian)
        )
        assert refused.status_code == 401
        assert refused.get_json()["detail"] == "The token has been revoked."
    finally:
        revoked.jtis.clear()
    expires = jwt.decode(short, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time() + 0.05))
    expired = front.served.post("/books", json={"title": "Não", "author": "N"}, headers=auth(short))
    assert expired.status_code == 401
    assert expired.get_json()["detail"] == "The token has expired; log in again."


def test_concurrent_posts_each_get_their_own_answer(catalogs: Catalogs) -> None:
    front = catalogs.front
    tag = uuid.uuid4().hex[:8]
    isbn = "9780140449136"
    bodies = [{"title": f"Distinto {tag} {n}", "author": "A"} for n in range(10)]
    bodies += [{"title": f"Mesmo ISBN {tag} {n}", "author": "B", "isbn": isbn} for n in range(6)]
    bodies += [{"title": f"Mesmo título {tag}", "author": "C"} for _ in range(6)]
    answers: list[TestResponse | None] = [None] * len(bodies)
    start = threading.Barrier(len(bodies))

    def post(n: int) -> None:
        client = Client(front.app.wsgi_app, front.app.response_class)
        start.wait()
        answers[n] = client.post("/books", json=bodies[n], headers=auth(catalogs.librarian))

    threads = [threading.Thread(target=post, args=(n,)) for n in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = [answer.status_code for answer in answers if answer is not None]
    assert statuses[:10] == [201] * 10
    for group in (statuses[10:16], statuses[16:]):
        assert sorted(group) == [201] + [409] * 5
    created = {
        answer.get_json()["id"] for answer in answers if answer and answer.status_code == 201
    }
    assert len(created) == 12
    for answer in answers:
        assert answer is not None
        if answer.status_code == 409:
            assert answer.get_json()["existing_id"] in created
        else:
            book = front.served.get(f"/books/{answer.get_json()['id']}")
            assert book.status_code == 200 and book.data == answer.data


def test_a_body_the_server_ends_is_read_as_flask_reads_it(catalogs: Catalogs) -> None:
    """With ``wsgi.input_terminated`` (Granian sets it) the body is the whole stream, whatever
    Content-Length says, and over the limit it is Flask's error."""
    front = catalogs.front
    ended = {"wsgi.input_terminated": True}
    book = json.dumps({"title": f"Iaiá Garcia {uuid.uuid4().hex}", "author": "Machado"})
    front.seen.clear()
    added = front.served.post(
        "/books", data=book, headers=json_headers(catalogs.librarian), environ_overrides=ended
    )
    assert added.status_code == 201 and front.seen == []
    huge = '{"title": "' + "t" * 2_000_000 + '", "author": "a"}'
    lying = {**ended, "CONTENT_LENGTH": "40"}
    headers = {**json_headers(catalogs.librarian), "X-Request-ID": TRACE}
    ours = front.served.post("/books", data=huge, headers=headers, environ_overrides=lying)
    assert front.seen == ["/books"]
    theirs = front.flask_only.post("/books", data=huge, headers=headers, environ_overrides=lying)
    assert 400 <= ours.status_code < 500
    same_answer(ours, theirs)
