"""Administrators' endpoints: deleted books (list, read, history), restoring them and purging
them for good. Nested in the catalog's blueprint (its token and body checks run first)."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from books_service import catalog, history, listing
from books_service.auth import current_username, require_roles
from books_service.representation import values_of
from books_service.responses import book_response
from books_service.schemas import BookList, BookOut, BookPath, History, WriteQuery
from common.app_base import BEARER
from common.db import get_db
from common.json_body import no_json_body
from common.openapi import problems
from common.paging import PageQuery, page_answer, page_response

ADMINS = frozenset({"admin"})
admin_tag = Tag(name="administration", description="Deleted books: restore or purge")
bearer = BEARER
ADMIN_PROBLEMS = problems(401, 403, 503)
admin_api = APIBlueprint("admin", __name__, abp_tags=[admin_tag])


@admin_api.before_request
def administrators_only() -> None:
    """Who may ask is settled before what was asked: a reader's malformed query is a 403, as
    a well-formed one is, not a 422 (the views' query and path models are checked later)."""
    require_roles(ADMINS)


@admin_api.get(
    "/books/deleted",
    responses={
        200: page_answer(
            "One page of deleted books, most recently deleted first", BookList.model_json_schema()
        ),
        **ADMIN_PROBLEMS,
    },
    security=bearer,
)
def deleted_books(query: PageQuery) -> Response:
    """Deleted books, with who deleted them and when (administrators)."""
    with get_db().read() as session:
        result = listing.list_deleted(session, limit=query.limit, cursor=query.cursor)
    return page_response(
        result.books, result.total, result.page, "books.admin.deleted_books", query
    )


@admin_api.get(
    "/books/deleted/<int:book_id>",
    responses={200: BookOut, **ADMIN_PROBLEMS, **problems(404)},
    security=bearer,
)
def deleted_book(path: BookPath) -> Response:
    """One deleted book (administrators)."""
    with get_db().read() as session:
        return book_response(catalog.read_deleted_book(session, path.book_id))


@admin_api.get(
    "/books/deleted/<int:book_id>/history",
    responses={
        200: page_answer(
            "The deleted book's changes, oldest first (one page)", History.model_json_schema()
        ),
        **ADMIN_PROBLEMS,
        **problems(404),
    },
    security=bearer,
)
def deleted_book_history(path: BookPath, query: PageQuery) -> Response:
    """A deleted book's history, to decide between restoring and purging (administrators)."""
    with get_db().read() as session:
        catalog.read_deleted_book(session, path.book_id)
        entries, page, total = history.read(
            session, path.book_id, limit=query.limit, cursor=query.cursor
        )
    return page_response(
        entries, total, page, "books.admin.deleted_book_history", query, book_id=path.book_id
    )


@admin_api.post(
    "/books/<int:book_id>/restore",
    responses={200: BookOut, **ADMIN_PROBLEMS, **problems(404, 409)},
    security=bearer,
)
@no_json_body
def restore_book(path: BookPath, query: WriteQuery) -> Response:
    """Bring a deleted book back (administrators). 409 if a live book has taken its ISBN, or
    its title and authors (the latter unless ``allow_duplicate=true``), as when adding it."""
    with get_db().transaction() as session:
        book = catalog.restore_book(
            session, path.book_id, by=current_username(), allow_duplicate=query.allow_duplicate
        )
        values = values_of(book)
    return book_response(values)


@admin_api.delete(
    "/books/deleted/<int:book_id>",
    responses={204: {"description": "Purged"}, **ADMIN_PROBLEMS, **problems(404)},
    security=bearer,
)
def purge_book(path: BookPath) -> Response:
    """Remove a deleted book for good, with its history (administrators). A live book must be
    deleted first."""
    with get_db().transaction() as session:
        catalog.purge_book(session, path.book_id)
    return Response(status=204)
