"""How the Books Service's answers are built: JSON with headers, pages with their RFC 8288
``Link`` and ``X-Total-Count`` headers, books with their ETag, duplicates with a link to the
book they duplicate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, url_for
from pydantic import BaseModel

from books_service.catalog import DuplicateBook
from books_service.pagination import Cursor, Page
from books_service.representation import book_json, etag
from common.openapi import header
from common.problem_json import problem

PAGE_HEADERS = {
    "Link": header(
        'RFC 8288 links to the first, prev, next and last pages: <url>; rel="next", ...'
    ),
    "X-Total-Count": header("How many items match, on all pages together", "integer"),
}
ETAG_HEADER = {"ETag": header('Strong ETag of this version of the book: "<id>-<version>"')}


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    response = jsonify(data)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def book_response(values: Mapping[str, Any], status: int = 200, **headers: str) -> Response:
    return json_response(
        book_json(values), status, {"ETag": etag(values["id"], values["version"]), **headers}
    )


def page_links(page: Page, endpoint: str, query: BaseModel, **url_values: Any) -> str:
    """The ``Link`` header of a page: the request's own (validated) query, filters, sort and
    limit, with each page's cursor. Relative URLs, which carry the proxy's prefix when it is
    trusted."""
    params = query.model_dump(exclude_none=True, exclude={"cursor"})

    def link(cursor: Cursor | None, rel: str) -> str:
        args = {**params, **url_values, **({"cursor": cursor.encode()} if cursor else {})}
        return f'<{url_for(endpoint, **args)}>; rel="{rel}"'

    links = [link(None, "first")]
    if page.prev:
        links.append(link(page.prev, "prev"))
    if page.next:
        links.append(link(page.next, "next"))
    links.append(link(page.last, "last"))
    return ", ".join(links)


def page_response(
    items: list[Any], total: int, page: Page, endpoint: str, query: BaseModel, **url_values: Any
) -> Response:
    return json_response(
        items,
        headers={
            "Link": page_links(page, endpoint, query, **url_values),
            "X-Total-Count": str(total),
        },
    )


def duplicate_problem(error: DuplicateBook) -> Response:
    """A duplicate's 409 names the existing book: its id, its URL, and a Link to it."""
    existing = url_for("books.get_book", book_id=error.existing_id)
    return problem(
        error.status,
        error.detail,
        title=error.title,
        type_=error.type,
        headers={"Link": f'<{existing}>; rel="related"'},
        existing_id=error.existing_id,
        existing=existing,
    )
