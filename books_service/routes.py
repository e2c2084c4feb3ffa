"""HTTP endpoints of the Books Service: parse, call the catalog, respond."""

from __future__ import annotations

from flask import Response, jsonify, url_for
from flask_openapi3 import APIBlueprint, Tag

from books_service import __version__, catalog
from books_service.auth import current_username, require_token_for_writes
from books_service.models import Book
from books_service.schemas import BookIn, BookList, BookOut, BookPath
from common.clock import isoformat
from common.db import get_db
from common.json_body import require_json_body
from common.openapi import ServiceIndex, problems

books_tag = Tag(name="books", description="The catalog")
bearer = [{"bearerAuth": []}]
# Every write: no/bad token 401, a token without a writer role 403, keys unavailable 503.
WRITE_PROBLEMS = problems(401, 403, 503)
api = APIBlueprint("books", __name__, abp_tags=[books_tag])
# Token first (401), then the body (415/400/422): an anonymous caller learns nothing more.
api.before_request(require_token_for_writes)
api.before_request(require_json_body)


def book_json(book: Book) -> dict[str, object]:
    return BookOut(
        id=book.id,
        title=book.title,
        author=book.author,
        created_at=isoformat(book.created_at),
        updated_at=isoformat(book.updated_at),
        created_by=book.created_by,
    ).model_dump()


@api.get("/books", responses={200: BookList})
def list_books() -> Response:
    """List the books in the catalog (public)."""
    with get_db().read() as session:
        return jsonify([book_json(book) for book in catalog.list_books(session)])


@api.get("/books/<int:book_id>", responses={200: BookOut, **problems(404)})
def get_book(path: BookPath) -> Response:
    """One book (public)."""
    with get_db().read() as session:
        return jsonify(book_json(catalog.get_book(session, path.book_id)))


@api.post(
    "/books",
    responses={
        201: {
            "description": "The book was added",
            "content": {"application/json": {"schema": BookOut.model_json_schema()}},
            "headers": {
                "Location": {"description": "The new book's URL", "schema": {"type": "string"}}
            },
        },
        **WRITE_PROBLEMS,
    },
    security=bearer,
)
def add_book(body: BookIn) -> tuple[Response, int, dict[str, str]]:
    """Add a book to the catalog."""
    with get_db().transaction() as session:
        book = catalog.add_book(
            session, title=body.title, author=body.author, created_by=current_username()
        )
        data = book_json(book)
    location = url_for("books.get_book", book_id=data["id"])
    return jsonify(data), 201, {"Location": location}


@api.put(
    "/books/<int:book_id>",
    responses={200: BookOut, **WRITE_PROBLEMS, **problems(404)},
    security=bearer,
)
def replace_book(path: BookPath, body: BookIn) -> Response:
    """Replace a book's title and author."""
    with get_db().transaction() as session:
        book = catalog.replace_book(session, path.book_id, title=body.title, author=body.author)
        return jsonify(book_json(book))


@api.delete(
    "/books/<int:book_id>",
    responses={204: None, **WRITE_PROBLEMS, **problems(404)},
    security=bearer,
)
def delete_book(path: BookPath) -> Response:
    """Remove a book."""
    with get_db().transaction() as session:
        catalog.delete_book(session, path.book_id)
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
            "openapi": "/docs/openapi.json",
        },
    )
