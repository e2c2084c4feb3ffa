"""What a book looks like to clients (JSON). Built from plain column values, so hot reads can
skip the ORM (SQLAlchemy Core rows) while writes pass their ORM objects. (Its ETag is
:func:`common.etag.version_etag` of its id and version.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.sql.elements import KeyedColumnElement

from books_service.isbn import to_isbn10
from books_service.models import Book
from books_service.records import EDITABLE_FIELDS
from common.clock import isoformat

_book = Book.__table__.c
# The columns a book's JSON is made of, in the order they are shown.
COLUMNS: tuple[KeyedColumnElement[Any], ...] = (
    _book.id,
    *(_book[name] for name in EDITABLE_FIELDS),
    _book.version,
    _book.created_at,
    _book.created_by,
    _book.updated_at,
    _book.updated_by,
)
DELETED_COLUMNS: tuple[KeyedColumnElement[Any], ...] = (_book.deleted_at, _book.deleted_by)


def values_of(book: Book) -> dict[str, Any]:
    return {column.key: getattr(book, column.key) for column in (*COLUMNS, *DELETED_COLUMNS)}


def book_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """The book as clients see it. ``isbn_10`` follows ``isbn``; ``deleted_at`` and
    ``deleted_by`` appear only for deleted books (in the administrators' views)."""
    data: dict[str, Any] = {"id": values["id"]}
    for name in EDITABLE_FIELDS:
        data[name] = values[name]
        if name == "isbn":
            data["isbn_10"] = to_isbn10(values["isbn"]) if values["isbn"] else None
    data.update(
        version=values["version"],
        created_at=isoformat(values["created_at"]),
        created_by=values["created_by"],
        updated_at=isoformat(values["updated_at"]),
        updated_by=values["updated_by"],
    )
    if values.get("deleted_at") is not None:
        data["deleted_at"] = isoformat(values["deleted_at"])
        data["deleted_by"] = values["deleted_by"]
    return data
