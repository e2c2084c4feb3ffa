"""A query parameter given twice is refused when the view's query model takes one value of it;
lists, parameters the model does not name and views without a query model are left alone."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Response, jsonify
from pydantic import BaseModel

from books_service.config import BooksSettings
from common.app_base import create_base_app, lean_validation
from common.paging import PageQuery
from common.query_string import REPEATED, single_valued


class TaggedQuery(BaseModel):
    tag: list[str] = []
    limit: int = 10


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    app = create_base_app(
        __name__, BooksSettings(data_dir=tmp_path_factory.mktemp("q")), title="t", version="1"
    )

    def plain(query: PageQuery) -> Response:
        return jsonify(limit=query.limit)

    def lean(query: PageQuery) -> Response:
        return jsonify(limit=query.limit)

    def tagged(query: TaggedQuery) -> Response:
        return jsonify(tags=query.tag)

    def bare() -> Response:
        return jsonify(ok=True)

    app.get("/plain")(plain)
    app.get("/lean")(lean_validation(lean))
    app.get("/tagged")(tagged)
    app.get("/bare")(bare)
    return app.test_client()


@pytest.mark.parametrize("path", ["/plain", "/lean"])
@pytest.mark.parametrize("query", ["limit=&limit=junk", "limit=5&limit=6", "limit=5&limit=5"])
def test_a_single_valued_parameter_given_twice_is_a_422_naming_it(
    client: Any, path: str, query: str
) -> None:
    response = client.get(f"{path}?{query}")
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["errors"] == [
        {"field": "limit", "message": REPEATED, "type": "repeated_parameter"}
    ]
    assert "limit: is given more than once" in response.json["detail"]


def test_every_repeated_parameter_is_named_once(client: Any) -> None:
    response = client.get("/plain?cursor=a&limit=1&cursor=b&limit=2&limit=3")
    assert [error["field"] for error in response.json["errors"]] == ["cursor", "limit"]


@pytest.mark.parametrize("path", ["/plain", "/lean"])
def test_each_parameter_once_is_served(client: Any, path: str) -> None:
    response = client.get(f"{path}?limit=7&cursor=")
    assert response.status_code == 200
    assert response.json == {"limit": 7}


def test_a_list_parameter_takes_every_value(client: Any) -> None:
    response = client.get("/tagged?tag=a&tag=b&limit=2")
    assert response.status_code == 200
    assert response.json == {"tags": ["a", "b"]}
    assert client.get("/tagged?tag=a&limit=2&limit=3").status_code == 422


def test_a_view_without_a_query_model_is_left_alone(client: Any) -> None:
    assert client.get("/bare?x=1&x=2").status_code == 200


def test_single_valued_reads_the_models_fields_by_alias_and_skips_lists() -> None:
    def view(query: TaggedQuery) -> None: ...

    def no_query(path: PageQuery) -> None: ...

    assert single_valued(view) == {"limit"}
    assert single_valued(no_query) == frozenset()
