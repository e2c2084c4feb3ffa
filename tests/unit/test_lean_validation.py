"""The hot routes validate their path, query, headers and body themselves (``lean_validation``):
every request, good or bad, gets the very answer flask-openapi3's own validation (and the JSON
body check before it) gives. Two copies of the catalog's routes' models, one validated each way,
are asked the same things."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Request as FlaskRequest
from flask import Response, jsonify

from books_service.config import BooksSettings
from books_service.schemas import (
    BookFields,
    BookPatch,
    BookPath,
    BookQuery,
    IfMatch,
    IfNoneMatch,
    WriteQuery,
)
from common.app_base import create_base_app, lean_validation
from common.json_body import require_json_body


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = BooksSettings(data_dir=tmp_path_factory.mktemp("lean"))
    app = create_base_app(__name__, settings, title="t", version="1")

    def listing(query: BookQuery, header: IfNoneMatch) -> Response:
        return jsonify(query=query.model_dump(), etag=header.if_none_match)

    def one(path: BookPath, header: IfNoneMatch) -> Response:
        return jsonify(id=path.book_id, etag=header.if_none_match)

    def lean_listing(query: BookQuery, header: IfNoneMatch) -> Response:
        return listing(query, header)

    def lean_one(path: BookPath, header: IfNoneMatch) -> Response:
        return one(path, header)

    app.get("/plain/books")(listing)
    app.get("/plain/books/<int:book_id>")(one)
    app.get("/lean/books")(lean_validation(lean_listing))
    app.get("/lean/books/<int:book_id>")(lean_validation(lean_one))
    return app.test_client()


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/books", {}),
        ("/books?limit=7&sort=-title&q=dom%20casmurro&author=Ana", {}),
        ("/books?limit=0", {}),
        ("/books?limit=abc", {}),
        ("/books?limit=501", {}),
        ("/books?sort=sideways", {}),
        ("/books?year_from=dois", {}),
        ("/books?cursor=" + "x" * 5000, {}),
        ("/books?q=" + "a" * 500, {}),
        ("/books?limit=5&limit=6", {}),
        ("/books?unknown=1", {}),
        ("/books", {"If-None-Match": 'W/"3-abc"'}),
        ("/books", {"If-None-Match": "x" * 9000}),
        ("/books/7", {}),
        ("/books/7", {"If-None-Match": '"7-2"', "X-Other": "ignored"}),
        ("/books/7", {"If-None-Match": "x" * 9000}),
        ("/books/0", {}),
        ("/books/abc", {}),
        ("/books/99999999999999999999999", {}),
    ],
)
def test_a_lean_route_answers_as_flask_openapi3_would(
    client: Any, path: str, headers: dict[str, str]
) -> None:
    plain = client.get("/plain" + path, headers=headers)
    lean = client.get("/lean" + path, headers=headers)
    assert (lean.status_code, lean.get_json()) == (plain.status_code, plain.get_json())


def test_bad_input_is_still_refused_with_a_problem(client: Any) -> None:
    answer = client.get("/lean/books?limit=0")
    assert answer.status_code == 422
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["errors"][0]["field"] == "limit"
    header = client.get("/lean/books/1", headers={"If-None-Match": "x" * 9000})
    assert header.status_code == 422
    assert header.get_json()["errors"][0]["field"] == "If-None-Match"


@pytest.fixture(scope="module")
def writer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A PUT of a book both ways, behind the same JSON body check as the catalog's routes."""
    settings = BooksSettings(data_dir=tmp_path_factory.mktemp("lean-body"))
    app = create_base_app(__name__, settings, title="t", version="1")
    app.before_request(require_json_body)

    def put(path: BookPath, query: WriteQuery, header: IfMatch, body: BookFields) -> Response:
        return jsonify(
            id=path.book_id, query=query.model_dump(), etag=header.if_match, body=body.record()
        )

    def lean_put(path: BookPath, query: WriteQuery, header: IfMatch, body: BookFields) -> Response:
        return put(path, query, header, body)

    def patch(path: BookPath, query: WriteQuery, header: IfMatch, body: BookPatch) -> Response:
        return jsonify(id=path.book_id, etag=header.if_match, patch=body.patch())

    def lean_patch(path: BookPath, query: WriteQuery, header: IfMatch, body: BookPatch) -> Response:
        return patch(path, query, header, body)

    app.put("/plain/books/<int:book_id>")(put)
    app.put("/lean/books/<int:book_id>")(lean_validation(lean_put))
    app.patch("/plain/books/<int:book_id>")(patch)
    app.patch("/lean/books/<int:book_id>")(lean_validation(lean_patch))
    return app.test_client()


BOOK = b'{"title": "Dom Casmurro", "author": "Machado de Assis"}'


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/books/7", BOOK, {}),
        ("/books/7?allow_duplicate=true", BOOK, {"If-Match": '"7-2"'}),
        ("/books/7", b'{"title": " Dom ", "authors": ["A", "B"], "isbn": "0-306-40615-2"}', {}),
        ("/books/7", b'{"title": "T", "author": "A", "published_date": "1899-02"}', {}),
        ("/books/7", b'{"title": "T", "author": "A", "series_index": 1, "copies": null}', {}),
        ("/books/7", b'{"title": "T", "title": "U", "author": "A"}', {}),
        ("/books/7", b"\xef\xbb\xbf" + BOOK, {}),  # a BOM: Flask's parse takes it
        ("/books/7", BOOK.decode().encode("utf-16"), {}),  # so does it UTF-16
        ("/books/7", b'{"title": "T\\ud800", "author": "A"}', {}),  # a lone surrogate
        ("/books/7", b'{"title": "\xed\xa0\x80", "author": "A"}', {}),  # encoded as UTF-8
        ("/books/7", b'{"title": "T", "author": "A", "series_index": NaN}', {}),
        ("/books/7", b'{"title": "T", "author": "A", "page_count": 1.0}', {}),
        ("/books/7", b'{"title": "T", "author": "A", "page_count": "3"}', {}),
        ("/books/7", b'{"title": "T", "titel": "U", "author": "A"}', {}),
        ("/books/7", b'{"title": "T"}', {}),
        ("/books/7", b"{}", {}),
        ("/books/7", b"", {}),
        ("/books/7", b"[1, 2]", {}),
        ("/books/7", b'"a string"', {}),
        ("/books/7", b"null", {}),
        ("/books/7", b'{"title": "T", "author": "A"', {}),
        ("/books/7", b"[" * 5000 + b"]" * 5000, {}),
        ("/books/7", b'{"title": "T", "author": "A"} trailing', {}),
        # Which error comes first: the JSON's, then the path's, query's and header's, the body's.
        ("/books/7?allow_duplicate=perhaps", b'{"title": "T"', {}),
        ("/books/7?allow_duplicate=perhaps", b"[]", {}),
        ("/books/7?allow_duplicate=perhaps", b'{"title": "T"}', {}),
        ("/books/0", b'{"title": "T"}', {}),
        ("/books/7", b'{"title": "T"}', {"If-Match": "x" * 9000}),
        ("/books/7", BOOK, {"Content-Type": "text/plain"}),
        ("/books/7", BOOK, {"Content-Type": "application/merge-patch+json"}),
    ],
)
def test_a_lean_route_with_a_body_answers_as_flask_openapi3_would(
    writer: Any, path: str, body: bytes, headers: dict[str, str]
) -> None:
    headers = {"Content-Type": "application/json", **headers}
    plain = writer.put("/plain" + path, data=body, headers=headers)
    lean = writer.put("/lean" + path, data=body, headers=headers)
    assert (lean.status_code, lean.get_json(silent=True), lean.headers.get("Content-Type")) == (
        plain.status_code,
        plain.get_json(silent=True),
        plain.headers.get("Content-Type"),
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"copies": 3}',
        b'{"copies": 3.0}',
        b'{"copies": true}',
        b'{"copies": null}',
        b'{"title": null}',
        b'{"author": null, "authors": null}',
        b'{"authors": ["A", "B"], "published_date": "2020-01-02", "language": "pt"}',
        b'{"series_index": 1}',
        b'{"series_index": NaN}',
        b'{"page_count": "3"}',
        b'{"titel": "T"}',
        b'{"title": "T\\ud800"}',
        b"{}",
        b"[]",
        b"not json",
    ],
)
@pytest.mark.parametrize("media_type", ["application/json", "application/merge-patch+json"])
def test_a_lean_merge_patch_answers_as_flask_openapi3_would(
    writer: Any, body: bytes, media_type: str
) -> None:
    headers = {"Content-Type": media_type}
    plain = writer.patch("/plain/books/7", data=body, headers=headers)
    lean = writer.patch("/lean/books/7", data=body, headers=headers)
    assert (lean.status_code, lean.get_json(silent=True)) == (
        plain.status_code,
        plain.get_json(silent=True),
    )


def test_a_good_body_is_validated_from_its_bytes_without_flask_parsing_it(
    writer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_parse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the body was parsed into Python objects first")

    monkeypatch.setattr(FlaskRequest, "get_json", no_parse)
    answer = writer.put("/lean/books/7", data=BOOK, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200
    assert answer.json["body"]["author"] == "Machado de Assis"  # json: the test client's own
