"""The hot reads validate their path, query and headers themselves (``lean_validation``): every
request, good or bad, gets the very answer flask-openapi3's own validation gives. Two copies of
the catalog's read routes' models, one validated each way, are asked the same things."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Response, jsonify

from books_service.config import BooksSettings
from books_service.schemas import BookPath, BookQuery, IfNoneMatch
from common.app_base import create_base_app, lean_validation


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
