"""How the Books Service's answers are built: JSON with headers, books with their ETag,
duplicates with a link to the book they duplicate, a stale If-Match with the current ETag.
(Pages are :mod:`common.paging`'s, conditional requests :mod:`common.etag`'s.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, url_for

from books_service.catalog import DuplicateBook, VersionMismatch
from books_service.representation import book_json
from common.etag import version_etag
from common.openapi import header
from common.problem_json import problem

ETAG_HEADER = {"ETag": header('Strong ETag of this version of the book: "<id>-<version>"')}
ESTIMATED = "X-Total-Count-Estimated"
ESTIMATED_HEADER = {
    ESTIMATED: header(
        "Present (`true`) only when X-Total-Count is an estimate, not a count: a search on "
        "PostgreSQL matching more than 1,000 books is counted by the database's statistics "
        "(rounded to two significant digits) and ranked within windows of ids; see the "
        "catalog's documentation. Absent, X-Total-Count is exact."
    )
}


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    response = jsonify(data)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def book_response(values: Mapping[str, Any], status: int = 200, **headers: str) -> Response:
    return json_response(
        book_json(values),
        status,
        {"ETag": version_etag(values["id"], values["version"]), **headers},
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


def version_mismatch_problem(error: VersionMismatch) -> Response:
    """A 412 says which version the book is at, and its ETag (in the body and the header)."""
    current = version_etag(error.book_id, error.version)
    return problem(
        error.status,
        error.detail,
        title=error.title,
        type_=error.type,
        headers={"ETag": current},
        **error.extra,
        current_etag=current,
    )
