"""The catalog's writes and single-book reads: adding, replacing, patching, deleting, restoring
and purging books, with their duplicate rules, optimistic concurrency, history and counts, each
in the caller's transaction. No HTTP here (reading many books is :mod:`books_service.listing`).

Every write stores a :data:`~books_service.book_rules.Record`, validated and completed once by
:mod:`books_service.book_rules`: by the caller for a whole book (``validate_book``, or the
request model built on its rules), here for a patched one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import delete, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from books_service import counts, history, merge_patch
from books_service.book_rules import Record, validate_document
from books_service.models import Book, BookAuthor, BookHistory, BookSubject
from books_service.records import (
    EDITABLE_FIELDS,
    author_keys,
    changes,
    derived_keys,
    initial_values,
    subject_keys,
)
from books_service.representation import COLUMNS, DELETED_COLUMNS
from common.clock import utcnow
from common.errors import ApiError, Conflict, NotFound

# Ids are 32-bit integers in both databases; anything outside cannot name a book.
MAX_ID = 2**31 - 1
# Optimistic concurrency: whether the version a book is at is one the writer read (from the
# edge, the If-Match header's). Checked under the row's lock; None accepts any version.
Versions = Callable[[int], bool]


class BookNotFound(NotFound):
    type = "/problems/book-not-found"
    title = "Book not found"

    def __init__(self, book_id: int) -> None:
        super().__init__(f"There is no book with id {book_id}.")


class DuplicateBook(Conflict):
    """The routes add the existing book's URL (``existing``) and a ``Link`` to it."""

    type = "/problems/duplicate-book"
    title = "Duplicate book"

    def __init__(self, detail: str, existing_id: int) -> None:
        super().__init__(detail, existing_id=existing_id)
        self.existing_id = existing_id


class VersionMismatch(ApiError):
    """The routes add the current version's ETag (``current_etag`` and the ``ETag`` header)."""

    status = 412
    type = "/problems/version-mismatch"
    title = "The book has changed"

    def __init__(self, book_id: int, version: int) -> None:
        super().__init__(
            f"The book is at version {version}, not the one your If-Match names: someone "
            "changed it since you read it. Fetch it again, reapply your change and retry.",
            current_version=version,
        )
        self.book_id = book_id
        self.version = version


# --- Reading one ---------------------------------------------------------------------------


def read_book(session: Session, book_id: int) -> Mapping[str, Any]:
    """A live book's column values (SQLAlchemy Core: the cheapest read), or BookNotFound."""
    row = (
        session.execute(select(*COLUMNS).where(Book.id == book_id, Book.deleted_at.is_(None)))
        .mappings()
        .first()
        if 1 <= book_id <= MAX_ID
        else None
    )
    if row is None:
        raise BookNotFound(book_id)
    return cast(Mapping[str, Any], row)  # RowMapping's keys are typed str | Column; ours are str


def read_deleted_book(session: Session, book_id: int) -> Mapping[str, Any]:
    row = (
        session.execute(
            select(*COLUMNS, *DELETED_COLUMNS).where(
                Book.id == book_id, Book.deleted_at.is_not(None)
            )
        )
        .mappings()
        .first()
        if 1 <= book_id <= MAX_ID
        else None
    )
    if row is None:
        raise BookNotFound(book_id)
    return cast(Mapping[str, Any], row)  # RowMapping's keys are typed str | Column; ours are str


def _locked(session: Session, book_id: int, *, deleted: bool = False) -> Book:
    """The book, its row locked until the transaction ends (PostgreSQL; on SQLite the write
    transaction is exclusive already), so a concurrent writer waits and then sees the outcome."""
    book = (
        session.get(Book, book_id, with_for_update=True, populate_existing=True)
        if 1 <= book_id <= MAX_ID
        else None
    )
    if book is None or (book.deleted_at is not None) != deleted:
        raise BookNotFound(book_id)
    return book


def _check(book: Book, versions: Versions | None) -> None:
    if versions is not None and not versions(book.version):
        raise VersionMismatch(book.id, book.version)


# --- Duplicates -----------------------------------------------------------------------------


def _live_with_isbn(session: Session, isbn: str, exclude: int | None) -> int | None:
    query = select(Book.id).where(Book.isbn == isbn, Book.deleted_at.is_(None))
    if exclude is not None:
        query = query.where(Book.id != exclude)
    return session.scalar(query.limit(1))


def _isbn_taken(isbn: str, existing_id: int) -> DuplicateBook:
    return DuplicateBook(
        f"A book with ISBN {isbn} is already in the catalog (book {existing_id}); "
        "to record more copies of it, change that book's 'copies'.",
        existing_id,
    )


def _check_duplicates(
    session: Session,
    record: Mapping[str, Any],
    keys: Mapping[str, Any],
    *,
    allow_duplicate: bool,
    exclude: int | None = None,
) -> None:
    """Same ISBN: always a conflict. No ISBN and the same title and authors as a live book: a
    conflict unless the client says it means it."""
    if record["isbn"]:
        existing = _live_with_isbn(session, record["isbn"], exclude)
        if existing is not None:
            raise _isbn_taken(record["isbn"], existing)
        return
    if allow_duplicate:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Two transactions adding the same new title at once would both find nothing: the
        # second waits here for the first to commit, then finds it. (SQLite's write
        # transactions are serialised already.)
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(keys["duplicate_key"][:15], 16)}
        )
    query = select(Book.id).where(
        Book.duplicate_key == keys["duplicate_key"], Book.deleted_at.is_(None)
    )
    if exclude is not None:
        query = query.where(Book.id != exclude)
    existing = session.scalar(query.limit(1))
    if existing is not None:
        raise DuplicateBook(
            f"Book {existing} has the same title and author (ignoring case, accents and "
            "punctuation); add ?allow_duplicate=true if you mean to add another.",
            existing,
        )


@contextmanager
def _isbn_guard(session: Session, isbn: str | None) -> Iterator[None]:
    """Write the book's row in a savepoint: a concurrent book with the same ISBN that committed
    first (the unique index catches it) is then a 409 like any other duplicate, not a 500, and
    the transaction goes on. The changes must be made inside the block: a savepoint flushes
    what is pending before it starts. Without an ISBN no other writer's row can clash with
    this one, and the savepoint (two more statements in the write lock) is left out."""
    if not isbn:
        yield
        session.flush()
        return
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError:
        existing = _live_with_isbn(session, isbn, None) if isbn else None
        if existing is None:
            raise
        raise _isbn_taken(isbn or "", existing) from None


# --- Writing --------------------------------------------------------------------------------


def _write_facets(
    session: Session, book_id: int, record: Mapping[str, Any], *, new: bool = False
) -> None:
    if not new:  # a new book has none to replace
        session.execute(delete(BookAuthor).where(BookAuthor.book_id == book_id))
        session.execute(delete(BookSubject).where(BookSubject.book_id == book_id))
    # Plain multi-row INSERTs: the unit of work's bookkeeping for objects nobody reads again
    # cost more than the statements, and it runs while the write lock is held.
    names = [{"book_id": book_id, "name_key": key} for key in author_keys(record)]
    if names:
        session.execute(insert(BookAuthor), names)
    subjects = [{"book_id": book_id, "subject_key": key} for key in subject_keys(record)]
    if subjects:
        session.execute(insert(BookSubject), subjects)


def add_book(session: Session, record: Record, *, by: str, allow_duplicate: bool = False) -> Book:
    """Add a book. The same ISBN as a live book is a DuplicateBook, and so are the same title
    and authors without an ISBN, unless ``allow_duplicate``."""
    keys = derived_keys(record)
    _check_duplicates(session, record, keys, allow_duplicate=allow_duplicate)
    now = utcnow()
    book = Book(
        **record, **keys, version=1, created_at=now, updated_at=now, created_by=by, updated_by=by
    )
    with _isbn_guard(session, book.isbn):
        session.add(book)
    _write_facets(session, book.id, record, new=True)
    counts.adjust(session, +1)
    history.record(session, book, "created", by, initial_values(record))
    return book


def _current(book: Book) -> dict[str, Any]:
    return {name: getattr(book, name) for name in EDITABLE_FIELDS}


def _change(
    session: Session, book: Book, record: Record, *, by: str, allow_duplicate: bool
) -> Book:
    diff = changes(_current(book), record)
    if not diff:
        return book  # nothing changed: no new version, no history entry
    keys = derived_keys(record)
    if {"title", "author", "authors", "isbn"} & diff.keys():
        _check_duplicates(session, record, keys, allow_duplicate=allow_duplicate, exclude=book.id)
    with _isbn_guard(session, record["isbn"]):
        for name, value in {**record, **keys}.items():
            setattr(book, name, value)
        book.version += 1
        book.updated_at = utcnow()
        book.updated_by = by
    if {"author", "authors", "subjects"} & diff.keys():
        _write_facets(session, book.id, record)
    counts.adjust(session, 0)  # as many live books, one more change
    history.record(session, book, "updated", by, diff)
    return book


def replace_book(
    session: Session,
    book_id: int,
    record: Record,
    *,
    by: str,
    versions: Versions | None = None,
    allow_duplicate: bool = False,
) -> Book:
    """PUT: the book becomes exactly ``record`` (fields it left empty are cleared)."""
    book = _locked(session, book_id)
    _check(book, versions)
    return _change(session, book, record, by=by, allow_duplicate=allow_duplicate)


def patch_document(book: Book, patch: Mapping[str, Any]) -> dict[str, Any]:
    """The book as a JSON document with a merge patch applied. A patch that sets only one of
    a derived pair lets the other follow it: a new ``author`` re-derives ``authors`` (and the
    other way round), a new ``published_date`` sets ``published_year``. Removing one (null)
    leaves the other, from which it is derived again."""
    document = {k: v for k, v in _current(book).items() if v is not None}
    for given, follower in (
        ("author", "authors"),
        ("authors", "author"),
        ("published_date", "published_year"),
    ):
        if patch.get(given) is not None and follower not in patch:
            document.pop(follower, None)
    patched: dict[str, Any] = merge_patch.apply(document, dict(patch))  # an object, patched
    return patched


def patch_book(
    session: Session,
    book_id: int,
    patch: Mapping[str, Any],
    *,
    by: str,
    versions: Versions | None = None,
    allow_duplicate: bool = False,
) -> Book:
    """PATCH (JSON Merge Patch): only the fields named change. The merged result is validated
    like a whole new record (a book_rules.ValidationError if it is not), so a patch can never
    leave a book invalid."""
    book = _locked(session, book_id)
    _check(book, versions)
    document = patch_document(book, patch)
    kept = {
        name: value
        for name, value in _current(book).items()
        if name not in patch and name in document and document[name] == value
    }
    record = validate_document(document, kept)
    return _change(session, book, record, by=by, allow_duplicate=allow_duplicate)


def delete_book(
    session: Session, book_id: int, *, by: str, versions: Versions | None = None
) -> None:
    """Soft delete: the book disappears from every read and search; an administrator can list
    and restore it, or purge it."""
    book = _locked(session, book_id)
    _check(book, versions)
    book.deleted_at = book.updated_at = utcnow()
    book.deleted_by = book.updated_by = by
    book.version += 1
    counts.adjust(session, -1)
    history.record(session, book, "deleted", by, {})


def restore_book(session: Session, book_id: int, *, by: str, allow_duplicate: bool = False) -> Book:
    """Bring a deleted book back, under the rules adding it would meet: a live book with its
    ISBN is a conflict, and so is one with its title and authors unless ``allow_duplicate``."""
    book = _locked(session, book_id, deleted=True)
    _check_duplicates(
        session,
        _current(book),
        {"duplicate_key": book.duplicate_key},
        allow_duplicate=allow_duplicate,
        exclude=book.id,
    )
    with _isbn_guard(session, book.isbn):
        book.deleted_at = book.deleted_by = None
        book.version += 1
        book.updated_at = utcnow()
        book.updated_by = by
    counts.adjust(session, +1)
    history.record(session, book, "restored", by, {})
    return book


def purge_book(session: Session, book_id: int) -> None:
    """Remove a deleted book for good, with its history: nothing of it remains."""
    book = _locked(session, book_id, deleted=True)
    for table in (BookAuthor, BookSubject, BookHistory):
        session.execute(delete(table).where(table.book_id == book.id))
    session.delete(book)
    session.flush()
    counts.adjust(session, 0)
