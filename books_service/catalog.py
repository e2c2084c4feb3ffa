"""The catalog: adding, reading, changing, deleting, restoring and purging books, with their
history, duplicates rules and optimistic concurrency. No HTTP here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, false, func, select
from sqlalchemy.orm import Session

from books_service import search
from books_service.isbn import to_isbn10
from books_service.models import Book, BookHistory, BookSubject
from books_service.pagination import Cursor, SortKey, after, order_by
from books_service.records import EDITABLE_FIELDS, changes, derived_fields
from books_service.schemas import BookFields
from common.clock import as_utc, isoformat, utcnow
from common.errors import ApiError, Conflict, NotFound
from common.text import fold

# Ids are 32-bit integers in both databases; anything outside cannot name a book.
MAX_ID = 2**31 - 1


class BookNotFound(NotFound):
    type = "/problems/book-not-found"
    title = "Book not found"

    def __init__(self, book_id: int) -> None:
        super().__init__(f"There is no book with id {book_id}.")


class DuplicateBook(Conflict):
    type = "/problems/duplicate-book"
    title = "Duplicate book"

    def __init__(self, detail: str, existing: Book) -> None:
        super().__init__(detail, existing_id=existing.id, existing=f"/books/{existing.id}")


class VersionMismatch(ApiError):
    status = 412
    type = "/problems/version-mismatch"
    title = "The book has changed"

    def __init__(self, book: Book) -> None:
        super().__init__(
            f"The book is at version {book.version}; fetch it again and retry your change.",
            current_version=book.version,
            headers={"ETag": etag(book)},
        )


def etag(book: Book) -> str:
    return f'"{book.id}-{book.version}"'


def representation(book: Book) -> dict[str, Any]:
    data: dict[str, Any] = {name: getattr(book, name) for name in EDITABLE_FIELDS}
    data.update(
        id=book.id,
        isbn_10=to_isbn10(book.isbn) if book.isbn else None,
        version=book.version,
        created_at=isoformat(book.created_at),
        created_by=book.created_by,
        updated_at=isoformat(book.updated_at),
        updated_by=book.updated_by,
    )
    if book.deleted_at is not None:
        data["deleted_at"] = isoformat(book.deleted_at)
    return data


def get_book(
    session: Session, book_id: int, *, for_update: bool = False, deleted: bool = False
) -> Book:
    """The live book (or, with ``deleted``, the deleted one), else BookNotFound. ``for_update``
    locks its row until the transaction ends, so a concurrent writer waits and then sees the
    outcome (on SQLite the whole write transaction is already exclusive)."""
    book = (
        session.get(Book, book_id, with_for_update=for_update) if 1 <= book_id <= MAX_ID else None
    )
    if book is None or (book.deleted_at is not None) != deleted:
        raise BookNotFound(book_id)
    return book


def _check_version(book: Book, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != book.version:
        raise VersionMismatch(book)


def _check_duplicates(
    session: Session, fields: dict[str, Any], *, allow_duplicate: bool, exclude: int | None = None
) -> None:
    live = select(Book).where(Book.deleted_at.is_(None))
    if exclude is not None:
        live = live.where(Book.id != exclude)
    if fields.get("isbn"):
        same = session.scalars(live.where(Book.isbn == fields["isbn"]).limit(1)).first()
        if same:
            raise DuplicateBook(
                f"A book with ISBN {fields['isbn']} is already in the catalog.", same
            )
    elif not allow_duplicate:
        key = derived_fields(fields)["duplicate_key"]
        same = session.scalars(
            live.where(Book.duplicate_key == key, Book.isbn.is_(None)).limit(1)
        ).first()
        if same:
            raise DuplicateBook(
                "A book with this title and author is already in the catalog; "
                "add ?allow_duplicate=true if you mean to add another.",
                same,
            )


def _write(session: Session, book: Book, fields: dict[str, Any]) -> None:
    for name in EDITABLE_FIELDS:
        setattr(book, name, fields.get(name))
    book.authors = fields.get("authors") or []
    book.subjects = fields.get("subjects") or []
    book.copies = fields.get("copies", 1)
    for name, value in derived_fields(fields).items():
        setattr(book, name, value)
    session.flush()
    session.execute(delete(BookSubject).where(BookSubject.book_id == book.id))
    for subject_key in {fold(s)[:100] for s in book.subjects}:
        session.add(BookSubject(book_id=book.id, subject_key=subject_key))
    search.index_book(session, book)


def _record(session: Session, book: Book, action: str, by: str, diff: dict[str, Any]) -> None:
    session.add(
        BookHistory(
            book_id=book.id,
            version=book.version,
            action=action,
            changed_at=book.updated_at,
            changed_by=by,
            changes=diff,
        )
    )


def add_book(
    session: Session, fields: dict[str, Any], *, by: str, allow_duplicate: bool = False
) -> Book:
    _check_duplicates(session, fields, allow_duplicate=allow_duplicate)
    now = utcnow()
    book = Book(created_by=by, updated_by=by, created_at=now, updated_at=now, version=1)
    session.add(book)
    _write(session, book, fields)
    _record(session, book, "created", by, changes({}, fields))
    return book


def _current_fields(book: Book) -> dict[str, Any]:
    return {name: getattr(book, name) for name in EDITABLE_FIELDS}


def replace_book(
    session: Session,
    book_id: int,
    fields: dict[str, Any],
    *,
    by: str,
    expected_version: int | None = None,
    allow_duplicate: bool = True,
) -> Book:
    book = get_book(session, book_id, for_update=True)
    _check_version(book, expected_version)
    before = _current_fields(book)
    diff = changes(before, fields)
    if not diff:
        return book  # nothing changed: no new version
    if "isbn" in diff:
        _check_duplicates(session, fields, allow_duplicate=allow_duplicate, exclude=book.id)
    book.version += 1
    book.updated_at = utcnow()
    book.updated_by = by
    _write(session, book, fields)
    _record(session, book, "updated", by, diff)
    return book


def merge_patch(book: Book, patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 over the book's editable fields, then validated like a full write (so a patch
    can never leave a book invalid). Raises pydantic's ValidationError (a 422)."""
    merged = _current_fields(book)
    for name, value in patch.items():
        if name in EDITABLE_FIELDS:
            merged[name] = value
    # Changing one of author/authors re-derives the other, as in a new record.
    if "author" in patch and "authors" not in patch:
        merged["authors"] = None
    if "authors" in patch and "author" not in patch:
        merged["author"] = None
    if "published_date" in patch and "published_year" not in patch:
        merged["published_year"] = None
    merged = {k: v for k, v in merged.items() if v is not None}
    return BookFields.model_validate(merged).record()


def patch_book(
    session: Session,
    book_id: int,
    patch: dict[str, Any],
    *,
    by: str,
    expected_version: int | None = None,
) -> Book:
    book = get_book(session, book_id, for_update=True)
    _check_version(book, expected_version)
    return replace_book(session, book_id, merge_patch(book, patch), by=by)


def delete_book(
    session: Session, book_id: int, *, by: str, expected_version: int | None = None
) -> None:
    """Soft delete: the book disappears from reads; an administrator can restore it."""
    book = get_book(session, book_id, for_update=True)
    _check_version(book, expected_version)
    book.deleted_at = book.updated_at = utcnow()
    book.deleted_by = by
    book.version += 1
    search.unindex_book(session, book.id)
    _record(session, book, "deleted", by, {})


def restore_book(session: Session, book_id: int, *, by: str) -> Book:
    book = get_book(session, book_id, for_update=True, deleted=True)
    if book.isbn:
        _check_duplicates(session, {"isbn": book.isbn}, allow_duplicate=True, exclude=book.id)
    book.deleted_at = None
    book.deleted_by = None
    book.version += 1
    book.updated_at = utcnow()
    book.updated_by = by
    session.flush()
    search.index_book(session, book)
    _record(session, book, "restored", by, {})
    return book


def purge_book(session: Session, book_id: int) -> None:
    """Remove a deleted book for good, with its history."""
    book = get_book(session, book_id, for_update=True, deleted=True)
    session.delete(book)


def history(session: Session, book_id: int) -> list[dict[str, Any]]:
    get_book(session, book_id)
    entries = session.scalars(
        select(BookHistory).where(BookHistory.book_id == book_id).order_by(BookHistory.id)
    ).all()
    return [
        {
            "version": entry.version,
            "action": entry.action,
            "changed_at": isoformat(entry.changed_at),
            "changed_by": entry.changed_by,
            "changes": entry.changes,
        }
        for entry in entries
    ]


# --- Reading many -------------------------------------------------------------------------

SORTS: dict[str, tuple[ColumnElement[Any], bool]] = {
    "title": (Book.title_key, False),
    "author": (Book.author_key, False),
    "published_year": (func.coalesce(Book.published_year, -10_000), False),
    "created_at": (Book.created_at, True),
    "updated_at": (Book.updated_at, True),
    "id": (Book.id, False),
}


@dataclass
class Filters:
    author: str | None = None
    isbn: str | None = None
    language: str | None = None
    subject: str | None = None
    publisher: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    q: str | None = None
    deleted: bool = False


@dataclass
class Page:
    books: Sequence[Book]
    total: int
    next: Cursor | None
    prev: Cursor | None
    last: Cursor = field(default_factory=lambda: Cursor(None, True))


def _filtered(session: Session, filters: Filters) -> tuple[Select, ColumnElement[float] | None]:
    statement = select(Book).where(
        Book.deleted_at.is_not(None) if filters.deleted else Book.deleted_at.is_(None)
    )
    if filters.author:
        statement = statement.where(Book.author_key.contains(fold(filters.author), autoescape=True))
    if filters.isbn:
        from books_service.isbn import InvalidIsbn, normalise

        try:
            statement = statement.where(Book.isbn == normalise(filters.isbn))
        except InvalidIsbn:
            statement = statement.where(false())  # no book has an invalid ISBN
    if filters.language:
        statement = statement.where(Book.language == filters.language.strip().lower())
    if filters.publisher:
        statement = statement.where(Book.publisher_key == fold(filters.publisher))
    if filters.subject:
        statement = statement.where(
            select(BookSubject.book_id)
            .where(BookSubject.book_id == Book.id, BookSubject.subject_key == fold(filters.subject))
            .exists()
        )
    if filters.year_from is not None:
        statement = statement.where(Book.published_year >= filters.year_from)
    if filters.year_to is not None:
        statement = statement.where(Book.published_year <= filters.year_to)
    rank = None
    if filters.q is not None:
        statement, rank = search.apply(session, statement, filters.q)
    return statement, rank


def sort_keys(sort: str | None, rank: ColumnElement[float] | None) -> list[SortKey]:
    if sort in (None, "relevance") and rank is not None:
        return [SortKey(rank, False), SortKey(Book.id, False)]
    name = (sort or "id").lstrip("-")
    if name == "relevance":
        name = "id"
    expression, is_datetime = SORTS[name]
    descending = (sort or "").startswith("-")
    keys = [SortKey(expression, descending, is_datetime)]
    if name != "id":
        keys.append(SortKey(Book.id, descending))  # the tie-breaker follows the direction
    return keys


def list_books(
    session: Session, filters: Filters, *, sort: str | None, limit: int, cursor: str | None
) -> Page:
    statement, rank = _filtered(session, filters)
    keys = sort_keys(sort, rank)
    position = Cursor.decode(cursor, keys) if cursor else Cursor((), False)
    page_query = statement.add_columns(*(k.expression for k in keys))
    if position.values:
        page_query = page_query.where(after(keys, position.values, position.backwards))
    page_query = page_query.order_by(*order_by(keys, position.backwards)).limit(limit + 1)
    rows = session.execute(page_query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    if position.backwards:
        rows.reverse()
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    books = [row[0] for row in rows]
    values = [tuple(_value(v) for v in row[1:]) for row in rows]
    at_start = (not position.values and not position.backwards) or (position.backwards and not more)
    at_end = (not position.backwards and not more) or (
        position.backwards and position.values is None
    )
    return Page(
        books=books,
        total=total or 0,
        next=Cursor(values[-1], False) if values and not at_end else None,
        prev=Cursor(values[0], True) if values and not at_start else None,
    )


def _value(value: Any) -> Any:
    return as_utc(value) if isinstance(value, datetime) else value
