"""HTTP endpoints of the catalog: parse, call the domain modules, respond. The administrators'
endpoints (deleted books) are in :mod:`books_service.admin_routes`, nested in this blueprint."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request, url_for
from flask_openapi3 import APIBlueprint, Tag

from books_service import __version__, book_writes, catalog, history, listing
from books_service.admin_routes import admin_api
from books_service.auth import current_username, require_token_for_writes
from books_service.cached_reads import VERSION_KEY
from books_service.catalog import DuplicateBook, VersionMismatch
from books_service.front_writes import HANDED_ERROR
from books_service.merge_patch import MEDIA_TYPE as MERGE_PATCH
from books_service.page_cache import CachedPage, PageCache, VersionReader, page_tag
from books_service.responses import (
    ESTIMATED,
    ESTIMATED_HEADER,
    ETAG_HEADER,
    book_response,
    duplicate_problem,
    version_mismatch_problem,
)
from books_service.schemas import (
    BookFields,
    BookList,
    BookOut,
    BookPatch,
    BookPath,
    BookQuery,
    History,
    IfMatch,
    IfNoneMatch,
    WriteQuery,
)
from common.app_base import BEARER, lean_validation
from common.db import get_db
from common.errors import ApiError
from common.etag import (
    Precondition,
    Versions,
    not_modified,
    not_modified_response,
)
from common.json_body import require_json_body
from common.openapi import ServiceIndex, header, problems
from common.paging import PAGE_HEADERS, PageQuery, page_answer, page_response

books_tag = Tag(name="books", description="The catalog")
bearer = BEARER
# Every write: no/bad token 401, a token without a writer role 403, keys unavailable 503.
WRITE_PROBLEMS = problems(401, 403, 503)
# Changing a book: it may be gone (404), a duplicate (409), changed since the client read it
# (412), or the server may require If-Match (428).
CHANGE_PROBLEMS = {**WRITE_PROBLEMS, **problems(404, 409, 412, 428)}
PATCH_TYPES = ("application/json", MERGE_PATCH)


class UnsupportedPatch(ApiError):
    status = 415
    type = "/problems/unsupported-patch"
    title = "Unsupported Media Type"

    def __init__(self) -> None:
        super().__init__(
            "PATCH takes a JSON Merge Patch (RFC 7396): send a JSON object of the fields to "
            "change with 'Content-Type: application/merge-patch+json' (or application/json).",
            headers={"Accept-Patch": ", ".join(PATCH_TYPES)},
        )


def require_merge_patch() -> None:
    """``before_request`` hook: PATCH bodies are merge patches, not JSON Patch or anything else."""
    if request.method == "PATCH" and request.mimetype not in PATCH_TYPES:
        raise UnsupportedPatch()


api = APIBlueprint("books", __name__, abp_tags=[books_tag])
# Token first (401), then the body (415/400/422): an anonymous caller learns nothing more.
api.before_request(require_token_for_writes)
api.before_request(require_merge_patch)
api.before_request(require_json_body)


def raise_handed_error() -> None:
    """``before_request`` hook, the last: a write of a book that failed in front of Flask
    (:mod:`books_service.front_writes`: nothing was written) is handed here with its error
    after every other hook has passed it, and raised where the view would have raised it, so
    Flask's error handlers answer it as they would have."""
    error: Exception | None = request.environ.get(HANDED_ERROR)
    if error is not None:
        raise error


api.before_request(raise_handed_error)
api.register_error_handler(DuplicateBook, duplicate_problem)
api.register_error_handler(VersionMismatch, version_mismatch_problem)


def catalog_version() -> int:
    """The catalog's version, for the caches of pages and books (see
    :mod:`books_service.page_cache`): the one the book route read for this request, when it
    handed a miss on (read before the answer is built, as here)."""
    handed: int | None = request.environ.get(VERSION_KEY)
    if handed is not None:
        return handed
    reader: VersionReader = current_app.extensions["estante.catalog_version"]
    return reader.read()


def book_answer(description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": BookOut.model_json_schema()}},
        "headers": {**ETAG_HEADER, **headers},
    }


def accepted_versions(book_id: int, headers: IfMatch) -> Versions | None:
    """The versions of the book the client's If-Match accepts (428 when it sends none and the
    server requires it); the catalog checks them under the book's lock."""
    required = current_app.config["ESTANTE_SETTINGS"].require_if_match
    return Precondition(headers.if_match, required=required).versions(book_id)


@api.get(
    "/books",
    responses={
        200: {
            **page_answer("One page of books (a JSON array)", BookList.model_json_schema()),
            "headers": {**PAGE_HEADERS, **ESTIMATED_HEADER, **ETAG_HEADER},
        },
        304: {
            "description": "Not modified: the catalog has not changed since the If-None-Match "
            "ETag was given for this page",
            "headers": ETAG_HEADER,
        },
    },
)
@lean_validation
def list_books(query: BookQuery, header: IfNoneMatch) -> Response:
    """List, filter, sort and search the catalog (public), a page at a time: follow the Link
    header's URLs for the next pages. The page's ETag changes whenever the catalog does: send it
    back as If-None-Match to get 304 while nothing changed."""
    cache: PageCache = current_app.extensions["estante.page_cache"]
    # Everything the page depends on besides the catalog: the query as validated, and the path
    # prefix the Link header's URLs carry.
    key = f"{request.script_root}?{query.model_dump_json()}"
    environ = request.environ
    cache.queries.put(environ.get("SCRIPT_NAME", ""), environ.get("QUERY_STRING", ""), key)
    version = catalog_version()  # before the page: never older than it
    tag = page_tag(version, key)
    current = f"W/{tag}"
    if not_modified(header.if_none_match, tag):
        return Response(status=304, headers={"ETag": current})
    page = cache.get(version, key)
    if page is None:
        with get_db().read() as session:
            result = listing.list_books(
                session,
                listing.Filters.of(query.model_dump()),
                sort=query.sort,
                limit=query.limit,
                cursor=query.cursor,
            )
        built = page_response(result.books, result.total, result.page, "books.list_books", query)
        if result.estimated:
            built.headers[ESTIMATED] = "true"
        page = CachedPage(
            built.get_data(),
            tuple(
                (name, built.headers[name])
                for name in ("Link", "X-Total-Count", ESTIMATED)
                if name in built.headers
            ),
        )
        cache.put(version, key, page)
    response = Response(page.body, mimetype="application/json", headers=page.headers)
    response.headers["ETag"] = current
    return response


@api.get(
    "/books/<int:book_id>",
    responses={
        200: book_answer("The book"),
        304: {
            "description": "Not modified: the If-None-Match ETag is current",
            "headers": ETAG_HEADER,
        },
        **problems(404),
    },
)
@lean_validation
def get_book(path: BookPath, header: IfNoneMatch) -> Response:
    """One book (public), with its ETag; 304 when If-None-Match names the current one."""
    books: PageCache = current_app.extensions["estante.book_cache"]
    key = str(path.book_id)
    version = catalog_version()  # before the book: never older than it
    book = books.get(version, key)
    if book is None:
        with get_db().read() as session:
            values = catalog.read_book(session, path.book_id)
        built = book_response(values)
        book = CachedPage(built.get_data(), (("ETag", built.headers["ETag"]),))
        books.put(version, key, book)
    current = book.headers[0][1]
    return not_modified_response(header.if_none_match, current) or Response(
        book.body, mimetype="application/json", headers=book.headers
    )


@api.post(
    "/books",
    responses={
        201: book_answer("The book was added", Location=header("The new book's URL")),
        **WRITE_PROBLEMS,
        **problems(409),
    },
    security=bearer,
)
@lean_validation
def add_book(query: WriteQuery, body: BookFields) -> Response:
    """Add a book. The same ISBN as a live book, or the same title and author without an ISBN,
    is a 409 naming the existing book (the latter unless ``allow_duplicate=true``)."""
    new = catalog.new_book(
        body.record(), by=current_username(), allow_duplicate=query.allow_duplicate
    )
    book = book_writes.add(get_db(), new)
    return book_response(book, 201, Location=url_for("books.get_book", book_id=book.id))


@api.put(
    "/books/<int:book_id>",
    responses={200: book_answer("The book as replaced"), **CHANGE_PROBLEMS},
    security=bearer,
)
@lean_validation
def replace_book(path: BookPath, query: WriteQuery, header: IfMatch, body: BookFields) -> Response:
    """Replace a book: it becomes what is sent (fields left out are cleared; the spec's title +
    author still work). Send If-Match with the ETag you read to never overwrite someone else's
    change."""
    record, by = body.record(), current_username()
    versions = accepted_versions(path.book_id, header)
    book = book_writes.replace(
        get_db(),
        path.book_id,
        record,
        by=by,
        versions=versions,
        allow_duplicate=query.allow_duplicate,
    )
    return book_response(book)


@api.patch(
    "/books/<int:book_id>",
    responses={200: book_answer("The book as changed"), **CHANGE_PROBLEMS},
    security=bearer,
)
@lean_validation
def patch_book(path: BookPath, query: WriteQuery, header: IfMatch, body: BookPatch) -> Response:
    """Change some fields (JSON Merge Patch, RFC 7396): a value replaces, null removes, a field
    left out stays. The result is validated like a new book."""
    patch, by = body.patch(), current_username()
    versions = accepted_versions(path.book_id, header)
    book = book_writes.patch(
        get_db(),
        path.book_id,
        patch,
        by=by,
        versions=versions,
        allow_duplicate=query.allow_duplicate,
    )
    return book_response(book)


# flask-openapi3 documents every body as application/json; PATCH takes merge patches as well.
_patch_body = api.paths["/books/{book_id}"].patch.requestBody
_patch_body.content[MERGE_PATCH] = _patch_body.content["application/json"]


@api.delete(
    "/books/<int:book_id>",
    responses={
        204: {"description": "Deleted (an administrator can restore it)"},
        **CHANGE_PROBLEMS,
    },
    security=bearer,
)
def delete_book(path: BookPath, header: IfMatch) -> Response:
    """Delete a book: it disappears from every read; an administrator can restore it."""
    by, versions = current_username(), accepted_versions(path.book_id, header)
    book_writes.delete(get_db(), path.book_id, by=by, versions=versions)
    return Response(status=204)


@api.get(
    "/books/<int:book_id>/history",
    responses={
        200: page_answer(
            "The book's changes, oldest first (one page)", History.model_json_schema()
        ),
        **problems(404),
    },
)
def book_history(path: BookPath, query: PageQuery) -> Response:
    """Every change to the book: who, when, which fields from what to what (public)."""
    with get_db().read() as session:
        catalog.read_book(session, path.book_id)  # 404 unless the book is live
        entries, page, total = history.read(
            session, path.book_id, limit=query.limit, cursor=query.cursor
        )
    return page_response(entries, total, page, "books.book_history", query, book_id=path.book_id)


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


api.register_api(admin_api)
