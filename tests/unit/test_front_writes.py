"""The writes of a book served in front of Flask (``books_service.front_writes``): a book added,
replaced or patched there gets Flask's own answer byte for byte (status, headers in order,
body), with the same log line and metrics, and the change is at once in every read (the book,
the pages and their count, its history, search); every request the route cannot answer is
Flask's, with Flask's error, and a write that fails there is answered by Flask's error handlers
as from the view. SQLite and PostgreSQL.

A success is compared between two workers of two catalogs in the same state, at a fixed clock:
the same request makes the same book (id, timestamps) in both, one worker writing it in front
of Flask, the other through Flask alone."""

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
from books_service.front_writes import BOOK_RULE, LIST_RULE, FrontWrites
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


def front_route(worker: Worker) -> FrontWrites:
    route = worker.app.wsgi_app
    while not isinstance(route, FrontWrites):
        route = route.next_app  # type: ignore[attr-defined]  # each route wraps the next
    return route


def twin_book(catalogs: Catalogs, body: dict[str, Any]) -> int:
    """``body`` added through Flask to both catalogs under the same id: in a catalog whose ids
    ran behind (books added to the other alone), the book is deleted and added again until
    they meet."""
    made: dict[str, int] = {}
    workers = {"front": catalogs.front, "flask": catalogs.flask}
    headers = auth(catalogs.librarian)
    for name, worker in workers.items():
        answer = worker.flask_only.post("/books", json=body, headers=headers)
        assert answer.status_code == 201, answer.get_json()
        made[name] = answer.get_json()["id"]
    while made["front"] != made["flask"]:
        behind = min(made, key=lambda name: made[name])
        worker = workers[behind]
        assert (
            worker.flask_only.delete(f"/books/{made[behind]}", headers=headers).status_code == 204
        )
        answer = worker.flask_only.post("/books", json=body, headers=headers)
        assert answer.status_code == 201, answer.get_json()
        made[behind] = answer.get_json()["id"]
    return made["front"]


CHANGES = [
    pytest.param("PUT", "application/json", {"author": "Machado de Assis"}, False, id="put"),
    pytest.param(
        "PATCH",
        "application/merge-patch+json",
        {"subjects": ["Romance", "Realismo"], "page_count": 208},
        True,
        id="merge-patch-if-match",
    ),
    pytest.param("PATCH", "application/json", {"series": None}, False, id="patch-json"),
]


@pytest.mark.parametrize(("method", "media_type", "change", "if_match"), CHANGES)
@pytest.mark.parametrize("prefix", ["", "/api/books"])
def test_a_book_changed_in_front_of_flask_is_answered_as_flask_answers_it(
    catalogs: Catalogs,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    prefix: str,
    method: str,
    media_type: str,
    change: dict[str, Any],
    if_match: bool,
) -> None:
    monkeypatch.setattr(catalog, "utcnow", lambda: NOW)
    title = f"Ressurreição {uuid.uuid4().hex[:8]}"
    book_id = twin_book(catalogs, {"title": title, "author": "Machado", "series": "Romances"})
    body = {"title": title, **change} if method == "PUT" else change
    headers = {**auth(catalogs.librarian), "X-Request-ID": TRACE, "Content-Type": media_type}
    if if_match:
        headers["If-Match"] = f'"{book_id}-1"'
    path, environ = f"/books/{book_id}", {"SCRIPT_NAME": prefix}
    data = json.dumps(body)
    theirs = catalogs.flask.flask_only.open(
        path, method=method, data=data, headers=headers, environ_overrides=environ
    )
    caplog.set_level(logging.INFO, logger="estante.access")
    caplog.clear()
    counted = requests_counted("books_service", method, BOOK_RULE, 200)
    catalogs.front.seen.clear()
    ours = catalogs.front.served.open(
        path, method=method, data=data, headers=headers, environ_overrides=environ
    )
    assert catalogs.front.seen == []  # no Flask hook ran
    assert ours.status_code == 200, ours.get_json()
    same_answer(ours, theirs)
    assert ours.get_json()["version"] == 2 and ours.headers["ETag"] == f'"{book_id}-2"'
    assert requests_counted("books_service", method, BOOK_RULE, 200) == counted + 1
    [line] = access_lines(caplog)
    assert line["path"] == path and line["status"] == 200 and line["method"] == method
    assert line["request_id"] == TRACE and line["user_id"] == 7


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_book_changed_in_front_is_in_every_read_at_once(catalogs: Catalogs, method: str) -> None:
    front = catalogs.front
    old_title = f"Helena {uuid.uuid4().hex[:8]}"
    added = front.served.post(
        "/books", json={"title": old_title, "author": "Machado"}, headers=auth(catalogs.librarian)
    )
    book_id = added.get_json()["id"]
    path = f"/books/{book_id}"
    assert front.served.get(path).data == added.data  # cached
    assert front.served.get(path).data == added.data
    page = front.served.get("/books?limit=1")
    new_title = f"Helena revista {uuid.uuid4().hex[:8]}"
    body = {"title": new_title} if method == "PATCH" else {"title": new_title, "author": "M."}
    front.seen.clear()
    changed = front.served.open(path, method=method, json=body, headers=auth(catalogs.librarian))
    assert changed.status_code == 200 and front.seen == []
    one = front.served.get(path, headers={"If-None-Match": added.headers["ETag"]})
    assert one.status_code == 200 and one.data == changed.data
    assert one.headers["ETag"] == changed.headers["ETag"] == f'"{book_id}-2"'
    after = front.served.get("/books?limit=1", headers={"If-None-Match": page.headers["ETag"]})
    assert after.status_code == 200  # the catalog's version moved
    assert after.headers["X-Total-Count"] == page.headers["X-Total-Count"]
    history = front.served.get(f"{path}/history").get_json()
    assert [entry["action"] for entry in history] == ["created", "updated"]
    assert history[1]["changed_by"] == "bia"
    assert history[1]["changes"]["title"] == {"from": old_title, "to": new_title}
    found = front.served.get("/books", query_string={"q": new_title}).get_json()
    assert [book["id"] for book in found] == [book_id]
    gone = front.served.get("/books", query_string={"q": old_title.split()[1]}).get_json()
    assert gone == []


def test_a_change_that_fails_is_answered_by_flask_as_from_the_view(
    catalogs: Catalogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    front = catalogs.front
    headers = {**auth(catalogs.librarian), "X-Request-ID": TRACE}
    tag = uuid.uuid4().hex[:8]
    taken = "9788535914849"
    if front.served.get("/books", query_string={"isbn": taken}).get_json() == []:
        holder = {"title": f"Dono {tag}", "author": "A", "isbn": taken}
        assert front.served.post("/books", json=holder, headers=headers).status_code == 201
    made = front.served.post(
        "/books", json={"title": f"Alvo {tag}", "author": "B"}, headers=headers
    )
    book_id = made.get_json()["id"]
    path = f"/books/{book_id}"
    failures = [
        ("PUT", path, {"title": "x", "author": "y", "isbn": taken}, {}, 409),
        ("PATCH", path, {"isbn": taken}, {}, 409),
        ("PATCH", path, {"page_count": 9}, {"If-Match": f'"{book_id}-7"'}, 412),
        ("PUT", path, {"title": "x", "author": "y"}, {"If-Match": f'W/"{book_id}-1"'}, 412),
        ("PUT", "/books/987654321", {"title": "x", "author": "y"}, {}, 404),
        ("PATCH", "/books/999999999999999999", {"page_count": 9}, {}, 404),
    ]
    for method, where, body, more, status in failures:
        front.seen.clear()
        ours = front.served.open(where, method=method, json=body, headers={**headers, **more})
        assert front.seen == [where], (method, status)  # handed to Flask after the write failed
        theirs = front.flask_only.open(where, method=method, json=body, headers={**headers, **more})
        assert ours.status_code == status, ours.get_json()
        same_answer(ours, theirs)
    assert front.served.get(path).data == made.data  # nothing changed
    # Any error of the write: Flask's handlers (503 for a database that is not there, 500).
    # The write is tried once: Flask answers its error, it does not write again.
    for name in ("replace", "patch"):
        for error in (OperationalError("UPDATE", {}, Exception("unable to open")), RuntimeError()):
            tried: list[object] = []

            def failing(
                *args: object, error: Exception = error, tried: list[object] = tried, **_: object
            ) -> None:
                tried.append(args)
                raise error

            monkeypatch.setattr(book_writes, name, failing)
            method = "PUT" if name == "replace" else "PATCH"
            body = {"title": f"Nunca {tag}", "author": "N"}
            front.seen.clear()
            ours = front.served.open(path, method=method, json=body, headers=headers)
            assert front.seen == [path] and len(tried) == 1
            theirs = front.flask_only.open(path, method=method, json=body, headers=headers)
            assert ours.status_code in (500, 503)
            same_answer(ours, theirs)
            monkeypatch.undo()


def test_every_change_the_route_cannot_answer_gets_flasks_answer(catalogs: Catalogs) -> None:
    """Each request is sent twice, once as served and once to Flask alone; those that write
    send what the book already is, so the second changes nothing and both answers are alike."""
    front = catalogs.front
    book = {"title": f"Casa Velha {uuid.uuid4().hex[:8]}", "author": "Machado"}
    made = front.served.post("/books", json=book, headers=auth(catalogs.librarian))
    book_id = made.get_json()["id"]
    path = f"/books/{book_id}"
    good = json.dumps(book)
    reader = token(catalogs.keys, roles=("reader",))
    json_type = json_headers(catalogs.librarian)
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("PUT", "no token", {"data": good, "headers": {"Content-Type": "application/json"}}),
        ("PUT", "a reader", {"data": good, "headers": json_headers(reader)}),
        (
            "PUT",
            "text",
            {"data": good, "headers": {**auth(catalogs.librarian), "Content-Type": "text/plain"}},
        ),
        (
            "PUT",
            "a merge patch type",
            {
                "data": good,
                "headers": {
                    **auth(catalogs.librarian),
                    "Content-Type": "application/merge-patch+json",
                },
            },
        ),
        (
            "PATCH",
            "JSON Patch",
            {
                "data": "[]",
                "headers": {
                    **auth(catalogs.librarian),
                    "Content-Type": "application/json-patch+json",
                },
            },
        ),
        ("PUT", "not JSON", {"data": "{nope", "headers": json_type}),
        ("PATCH", "an empty patch", {"data": "{}", "headers": json_type}),
        ("PATCH", "a null title", {"data": '{"title": null}', "headers": json_type}),
        ("PUT", "no title", {"data": '{"author": "a"}', "headers": json_type}),
        ("PATCH", "unknown field", {"data": '{"x": 1}', "headers": json_type}),
        (
            "PUT",
            "an unquoted If-Match",
            {"data": good, "headers": {**json_type, "If-Match": f"{book_id}-1"}},
        ),
        (
            "PUT",
            "a long If-Match",
            {"data": good, "headers": {**json_type, "If-Match": '"' + "1" * 9000 + '"'}},
        ),
        (
            "PUT",
            "too big",
            {"data": '{"title": "' + "t" * 2_000_000 + '", "author": "a"}', "headers": json_type},
        ),
        (
            "PUT",
            "a query",
            {"data": good, "headers": json_type, "query_string": "allow_duplicate=true"},
        ),
        (
            "PUT",
            "a leading zero",
            {"data": good, "headers": json_type, "path": f"/books/0{book_id}"},
        ),
        ("PUT", "a trailing slash", {"data": good, "headers": json_type, "path": f"{path}/"}),
        (
            "PUT",
            "an id too long",
            {"data": good, "headers": json_type, "path": "/books/" + "9" * 19},
        ),
        ("PUT", "the list", {"data": good, "headers": json_type, "path": "/books"}),
        ("PATCH", "the list", {"data": good, "headers": json_type, "path": "/books"}),
    ]
    for method, name, kwargs in cases:
        where = kwargs.pop("path", path)
        headers = {**kwargs.pop("headers"), "X-Request-ID": TRACE}
        front.served.open(where, method=method, headers=headers, **kwargs)  # token now verified
        front.seen.clear()
        ours = front.served.open(where, method=method, headers=headers, **kwargs)
        assert front.seen == [where], name  # Flask answered it
        theirs = front.flask_only.open(where, method=method, headers=headers, **kwargs)
        assert ours.status_code != 500, name
        same_answer(ours, theirs)
    assert front.served.get(path).get_json()["version"] == 1  # nothing changed it


def test_a_change_without_if_match_where_it_is_required_is_flasks_428(
    catalogs: Catalogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    front = catalogs.front
    settings: BooksSettings = front.app.config["ESTANTE_SETTINGS"]
    monkeypatch.setitem(
        front.app.config, "ESTANTE_SETTINGS", settings.model_copy(update={"require_if_match": True})
    )
    monkeypatch.setattr(front_route(front), "_require_if_match", True)
    made = front.served.post(
        "/books",
        json={"title": f"Iaiá {uuid.uuid4().hex}", "author": "M"},
        headers=auth(catalogs.librarian),
    )
    path = f"/books/{made.get_json()['id']}"
    headers = {**auth(catalogs.librarian), "X-Request-ID": TRACE}
    for method in ("PUT", "PATCH"):
        front.seen.clear()
        body = {"title": "Iaiá", "author": "M"}
        ours = front.served.open(path, method=method, json=body, headers=headers)
        assert front.seen == [path] and ours.status_code == 428
        same_answer(ours, front.flask_only.open(path, method=method, json=body, headers=headers))
    front.seen.clear()
    changed = front.served.patch(
        path, json={"page_count": 3}, headers={**headers, "If-Match": made.headers["ETag"]}
    )
    assert changed.status_code == 200 and front.seen == []


def test_concurrent_changes_of_one_version_leave_one_winner(catalogs: Catalogs) -> None:
    front = catalogs.front
    made = front.served.post(
        "/books",
        json={"title": f"Mão e Luva {uuid.uuid4().hex}", "author": "M"},
        headers=auth(catalogs.librarian),
    )
    path, etag = f"/books/{made.get_json()['id']}", made.headers["ETag"]
    answers: list[TestResponse | None] = [None] * 12
    start = threading.Barrier(len(answers))

    def change(n: int) -> None:
        client = Client(front.app.wsgi_app, front.app.response_class)
        headers = {**auth(catalogs.librarian), "If-Match": etag}
        start.wait()
        if n % 2:
            answers[n] = client.patch(path, json={"page_count": n + 1}, headers=headers)
        else:
            answers[n] = client.put(
                path, json={"title": f"Mão {n}", "author": "M"}, headers=headers
            )

    threads = [threading.Thread(target=change, args=(n,)) for n in range(len(answers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(answer.status_code for answer in answers if answer is not None)
    assert statuses == [200] + [412] * 11
    [winner] = [answer for answer in answers if answer and answer.status_code == 200]
    stored = front.served.get(path)
    assert stored.data == winner.data and stored.headers["ETag"] == winner.headers["ETag"]
    history = front.served.get(f"{path}/history").get_json()
    assert [entry["action"] for entry in history] == ["created", "updated"]
