"""HTTP endpoints of the Books Service: parse, call the catalog, respond."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request, url_for
from flask_openapi3 import APIBlueprint, Tag

from books_service import __version__, catalog
from books_service.auth import (
    ADMIN_ROLES,
    current_username,
    require_roles,
    require_token_for_writes,
)
from books_service.pagination import Cursor
from books_service.schemas import (
    BookFields,
    BookList,
    BookOut,
    BookPatch,
    BookPath,
    BookQuery,
    CreateQuery,
    History,
)
from common.db import get_db
from common.errors import ApiError
from common.json_body import no_json_body, require_json_body
from common.openapi import ServiceIndex, header, problems

books_tag = Tag(name="books", description="The catalog")
bearer = [{"bearerAuth": []}]
# Every write: no/bad token 401, a token without a writer role 403, keys unavailable 503.
WRITE_PROBLEMS = problems(401, 403, 503)
# A write names the version it changes with If-Match: 412 when it is stale, 428 when required.
VERSIONED_WRITE_PROBLEMS = {**WRITE_PROBLEMS, **problems(404, 412, 428)}
api = APIBlueprint("books", __name__, abp_tags=[books_tag])
# Token first (401), then the body (415/400/422): an anonymous caller learns nothing more.
api.before_request(require_token_for_writes)
api.before_request(require_json_body)


class PreconditionRequired(ApiError):
    status = 428
    type = "/problems/precondition-required"
    title = "Precondition required"

    def __init__(self) -> None:
        super().__init__("Send If-Match with the book's ETag (this server requires it).")


def json_response(data: Any, status: int = 200, **headers: str) -> Response:
    response = jsonify(data)
    response.status_code = status
    response.headers.update(headers)
    return response


def book_response(book: Any, status: int = 200, **headers: str) -> Response:
    response = json_response(catalog.representation(book), status, **headers)
    response.headers["ETag"] = catalog.etag(book)
    return response


def expected_version(book_id: int) -> int | None:
    """The version the client's If-Match names: None when it sends none (or '*'), -1 when it
    names none of this book's versions (so it cannot match)."""
    if_match = request.headers.get("If-Match")
    if if_match is None:
        if current_app.config["ESTANTE_REQUIRE_IF_MATCH"]:
            raise PreconditionRequired()
        return None
    if request.if_match.star_tag:
        return None
    prefix = f"{book_id}-"
    for tag in request.if_match.as_set():  # strong tags only: a weak tag never matches
        if tag.startswith(prefix) and tag[len(prefix) :].isdigit():
            return int(tag[len(prefix) :])
    return -1


PAGE_HEADERS = {
    "Link": header("RFC 8288 links: first, prev, next, last (keyset cursors)"),
    "X-Total-Count": header("How many books match, on all pages", "integer"),
}


@api.get(
    "/books",
    responses={
        200: {
            "description": "One page of books (a JSON array), oldest first unless sorted",
            "content": {"application/json": {"schema": BookList.model_json_schema()}},
            "headers": PAGE_HEADERS,
        }
    },
)
def list_books(query: BookQuery) -> Response:
    """List, filter, sort and search the catalog (public), a page at a time."""
    filters = catalog.Filters(
        **query.model_dump(
            include={
                "author",
                "isbn",
                "language",
                "subject",
                "publisher",
                "year_from",
                "year_to",
                "q",
            }
        )
    )
    with get_db().read() as session:
        page = catalog.list_books(
            session, filters, sort=query.sort, limit=query.limit, cursor=query.cursor
        )
        books = [catalog.representation(book) for book in page.books]
    return json_response(books, **{"X-Total-Count": str(page.total), "Link": links(query, page)})


def links(query: BookQuery, page: catalog.Page) -> str:
    params = query.model_dump(exclude={"cursor"}, exclude_none=True)
    params.pop("limit", None)
    params["limit"] = query.limit

    def link(cursor: Cursor | None, rel: str) -> str:
        args = {**params, **({"cursor": cursor.encode()} if cursor else {})}
        return f'<{url_for("books.list_books", **args)}>; rel="{rel}"'

    parts = [link(None, "first")]
    if page.prev:
        parts.append(link(page.prev, "prev"))
    if page.next:
        parts.append(link(page.next, "next"))
    parts.append(link(page.last, "last"))
    return ", ".join(parts)


@api.get(
    "/books/<int:book_id>",
    responses={
        200: {
            "description": "The book",
            "content": {"application/json": {"schema": BookOut.model_json_schema()}},
            "headers": {"ETag": header("Strong: changes with every version")},
        },
        304: {"description": "Not modified (If-None-Match matched)"},
        **problems(404),
    },
)
def get_book(path: BookPath) -> Response:
    """One book (public). Send If-None-Match with its ETag to get 304 when unchanged."""
    with get_db().read() as session:
        book = catalog.get_book(session, path.book_id)
        if request.if_none_match.contains(catalog.etag(book).strip('"')):
            response = Response(status=304)
            response.headers["ETag"] = catalog.etag(book)
            return response
        return book_response(book)


@api.post(
    "/books",
    responses={
        201: {
            "description": "The book was added",
            "content": {"application/json": {"schema": BookOut.model_json_schema()}},
            "headers": {"Location": header("The new book's URL"), "ETag": header("Its version")},
        },
        **WRITE_PROBLEMS,
        **problems(409),
    },
    security=bearer,
)
def add_book(query: CreateQuery, body: BookFields) -> Response:
    """Add a book. Same ISBN, or same title and author without ISBN, is 409 (with a link to the
    existing book) unless ``allow_duplicate=true``."""
    with get_db().transaction() as session:
        book = catalog.add_book(
            session, body.record(), by=current_username(), allow_duplicate=query.allow_duplicate
        )
        location = url_for("books.get_book", book_id=book.id)
        return book_response(book, 201, Location=location)


@api.put(
    "/books/<int:book_id>",
    responses={200: BookOut, **VERSIONED_WRITE_PROBLEMS, **problems(409)},
    security=bearer,
)
def replace_book(path: BookPath, body: BookFields) -> Response:
    """Replace a book: fields not sent are cleared (the spec's title + author still work)."""
    with get_db().transaction() as session:
        book = catalog.replace_book(
            session,
            path.book_id,
            body.record(),
            by=current_username(),
            expected_version=expected_version(path.book_id),
        )
        return book_response(book)


@api.patch(
    "/books/<int:book_id>",
    responses={200: BookOut, **VERSIONED_WRITE_PROBLEMS, **problems(409)},
    security=bearer,
)
def patch_book(path: BookPath, body: BookPatch) -> Response:
    """Change some fields (JSON Merge Patch, RFC 7396: a value replaces, null removes)."""
    with get_db().transaction() as session:
        book = catalog.patch_book(
            session,
            path.book_id,
            body.model_dump(),
            by=current_username(),
            expected_version=expected_version(path.book_id),
        )
        return book_response(book)


@api.delete(
    "/books/<int:book_id>", responses={204: None, **VERSIONED_WRITE_PROBLEMS}, security=bearer
)
def delete_book(path: BookPath) -> Response:
    """Remove a book from the catalog (an administrator can restore it)."""
    with get_db().transaction() as session:
        catalog.delete_book(
            session,
            path.book_id,
            by=current_username(),
            expected_version=expected_version(path.book_id),
        )
    return Response(status=204)


@api.get("/books/<int:book_id>/history", responses={200: History, **problems(404)})
def book_history(path: BookPath) -> Response:
    """Every change to the book: who, when, which fields from what to what (public)."""
    with get_db().read() as session:
        return json_response(catalog.history(session, path.book_id))


@api.get("/books/deleted", responses={200: BookList, **problems(401, 403, 503)}, security=bearer)
def deleted_books(query: BookQuery) -> Response:
    """Deleted books, most recently deleted last (administrators)."""
    require_roles(ADMIN_ROLES)
    filters = catalog.Filters(deleted=True)
    with get_db().read() as session:
        page = catalog.list_books(
            session, filters, sort=query.sort, limit=query.limit, cursor=query.cursor
        )
        books = [catalog.representation(book) for book in page.books]
    return json_response(books, **{"X-Total-Count": str(page.total)})


@api.post(
    "/books/<int:book_id>/restore",
    responses={200: BookOut, **WRITE_PROBLEMS, **problems(404, 409)},
    security=bearer,
)
@no_json_body
def restore_book(path: BookPath) -> Response:
    """Bring a deleted book back (administrators)."""
    require_roles(ADMIN_ROLES)
    with get_db().transaction() as session:
        return book_response(catalog.restore_book(session, path.book_id, by=current_username()))


@api.delete(
    "/books/deleted/<int:book_id>",
    responses={204: None, **WRITE_PROBLEMS, **problems(404)},
    security=bearer,
)
def purge_book(path: BookPath) -> Response:
    """Remove a deleted book for good, with its history (administrators)."""
    require_roles(ADMIN_ROLES)
    with get_db().transaction() as session:
        catalog.purge_book(session, path.book_id)
    return Response(status=204)


@api.get("/", responses={200: ServiceIndex})
def index() -> Response:
    """What this service is and where its endpoints are."""
    return jsonify(
        name="Estante Books Service",
        version=__version__,
        links={
            "books": url_for("books.list_books"),
            "health": "/healthz",
            "openapi": "/openapi.json",
            "docs": "/docs",
        },
    )
