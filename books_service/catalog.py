"""The catalog's writes and single-book reads: adding, replacing, patching, deleting, restoring
and purging books, with their duplicate rules, optimistic concurrency, history and counts, each
in the caller's transaction. No HTTP here (reading many books is :mod:`books_service.listing`).

Every write stores a :data:`~books_service.book_rules.Record`, validated and completed once by
:mod:`books_service.book_rules`: by the caller for a whole book (``validate_book``, or the
request model built on its rules), here for a patched one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Update

from books_service import counts, history, merge_patch, pg_writes
from books_service.book_rules import Record, validate_document
from books_service.book_statements import (
    ADVISORY_LOCK,
    AUTHOR_ROWS,
    INSERT,
    INSERT_NEW_ISBN,
    SELECT_LOCKED,
    SELECT_STORED,
    SUBJECT_ROWS,
    UPDATE,
    UPDATE_BOOK,
    UPDATE_IF,
    UPDATES,
    UPDATES_AT_VERSION,
    insert_new_title,
)
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
from common.db import connection_of
from common.errors import ApiError, Conflict, NotFound
from common.prepared import Prepared

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


def check_version(book: Mapping[str, Any] | Book, versions: Versions | None) -> None:
    """VersionMismatch unless the book is at a version ``versions`` accepts (None: any)."""
    if isinstance(book, Mapping):
        book_id, version = book["id"], book["version"]
    else:
        book_id, version = book.id, book.version
    if versions is not None and not versions(version):
        raise VersionMismatch(book_id, version)


# --- Duplicates -----------------------------------------------------------------------------


def _live_with_isbn(session: Session | Connection, isbn: str, exclude: int | None) -> int | None:
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
        _lock_title(connection_of(session), keys["duplicate_key"])
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


# --- Writing ---------------------------------------------------------------------------------
# Each write works out everything it will store first, then runs its statements
# (books_service.book_statements, built once) back to back.


def _stored(connection: Connection, book_id: int, *, deleted: bool = False) -> dict[str, Any]:
    """The book's columns, its row locked until the transaction ends (PostgreSQL; on SQLite the
    write transaction is exclusive already), so a concurrent writer waits and then sees the
    outcome."""
    row = SELECT_LOCKED.first(connection, {"b_id": book_id}) if 1 <= book_id <= MAX_ID else None
    return stored_book(row, book_id, deleted=deleted)


def read_locked(book_id: int) -> tuple[Prepared, dict[str, Any]] | None:
    """The statement that reads a book's columns and locks its row, with its parameters (None
    for an id that names no book): for a caller running it elsewhere, then
    :func:`stored_book` on its row."""
    return (SELECT_LOCKED, {"b_id": book_id}) if 1 <= book_id <= MAX_ID else None


def read_stored(book_id: int) -> tuple[Prepared, dict[str, Any]] | None:
    """:func:`read_locked` without the lock: for a change written only if the book is still
    at the version read (:meth:`PlannedChange.at_version`)."""
    return (SELECT_STORED, {"b_id": book_id}) if 1 <= book_id <= MAX_ID else None


def stored_book(
    row: dict[str, Any] | None, book_id: int, *, deleted: bool = False
) -> dict[str, Any]:
    """The book's columns as :func:`read_locked` read them; BookNotFound if it found no book,
    or one deleted (``deleted``: one not deleted)."""
    if row is None or (row["deleted_at"] is not None) != deleted:
        raise BookNotFound(book_id)
    return row


def _lock_title(connection: Connection, duplicate_key: str) -> None:
    """PostgreSQL: two transactions adding the same new title at once would both find nothing;
    the second waits here for the first to commit, then finds it. (SQLite's write transactions
    are serialised already.)"""
    ADVISORY_LOCK.run(connection, {"key": pg_writes.title_lock(duplicate_key)})


def _title_taken(
    connection: Connection | Session, duplicate: str, exclude: int | None
) -> DuplicateBook:
    query = select(Book.id).where(Book.duplicate_key == duplicate, Book.deleted_at.is_(None))
    if exclude is not None:
        query = query.where(Book.id != exclude)
    existing = connection.scalar(query.limit(1))
    assert existing is not None, "the write found a duplicate that the read does not"
    return DuplicateBook(
        f"Book {existing} has the same title and author (ignoring case, accents and "
        "punctuation); add ?allow_duplicate=true if you mean to add another.",
        existing,
    )


def _isbn_holder(connection: Connection | Session, isbn: str, exclude: int | None) -> DuplicateBook:
    existing = _live_with_isbn(connection, isbn, exclude)
    assert existing is not None, "the write found a duplicate ISBN that the read does not"
    return _isbn_taken(isbn, existing)


class BookValues(dict[str, Any]):
    """A book's column values as a write left them (what :func:`read_book` would read now)."""

    @property
    def id(self) -> int:
        return int(self["id"])

    @property
    def version(self) -> int:
        return int(self["version"])


def _facet_rows(book_id: int, keys: Iterable[str], column: str) -> list[dict[str, Any]]:
    return [{"book_id": book_id, column: key} for key in keys]


def _rewrite_facets(
    connection: Connection, book_id: int, before: Mapping[str, Any], after: Mapping[str, Any]
) -> None:
    """The author and subject rows that differ between two versions of a book: the gone ones
    deleted, the new ones added, the rest left alone."""
    changed = _facet_changes(before, after)
    for (insert_rows, delete_rows), column, name in (
        (AUTHOR_ROWS, "name_key", "authors"),
        (SUBJECT_ROWS, "subject_key", "subjects"),
    ):
        gone, new = changed[name]
        delete_rows.run_many(connection, _facet_rows(book_id, sorted(gone), column))
        insert_rows.run_many(connection, _facet_rows(book_id, sorted(new), column))


def _facet_changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> dict[str, tuple[set[str], set[str]]]:
    """For authors and subjects: the keys gone between two versions of a book, and the new."""
    changed = {}
    for name, keys in (("authors", author_keys), ("subjects", subject_keys)):
        old, new = keys(before), keys(after)
        changed[name] = (old - new, new - old)
    return changed


@dataclass(frozen=True)
class NewBook:
    """Everything adding a book stores, worked out from its record with no database: made
    before the write transaction, so that none of it runs while the write lock is held."""

    row: dict[str, Any]
    authors: list[str]
    subjects: list[str]
    changes: dict[str, Any]
    allow_duplicate: bool

    @property
    def check(self) -> pg_writes.Check:
        """How its row is kept from duplicating a live book's (see :func:`insert_book`)."""
        if self.row["isbn"]:
            return "isbn"
        return "none" if self.allow_duplicate else "title"

    def statement(self) -> tuple[Prepared, dict[str, Any]]:
        """PostgreSQL: its one statement and its parameters (its first row: the new id, or
        none for a duplicate). The title's check takes the title's lock itself."""
        row = self.row
        params = pg_writes.add_params(row, self.authors, self.subjects, self.changes, self.check)
        return pg_writes.adding(self.check, tuple(row)), params

    def duplicate(self, connection: Connection | Session) -> DuplicateBook:
        """The 409 of a book its check kept out, naming the live book it duplicates."""
        if self.check == "isbn":
            return _isbn_holder(connection, self.row["isbn"], None)
        return _title_taken(connection, self.row["duplicate_key"], None)

    def values(self, book_id: int) -> BookValues:
        """The book as adding it under ``book_id`` leaves it."""
        return BookValues(id=book_id, deleted_at=None, deleted_by=None, **self.row)


def new_book(record: Record, *, by: str, allow_duplicate: bool = False) -> NewBook:
    """The rows for adding ``record`` as ``by`` now (see :func:`insert_book`)."""
    now = utcnow()
    row = {
        **record,
        **derived_keys(record),
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "created_by": by,
        "updated_by": by,
    }
    return NewBook(
        row,
        sorted(author_keys(record)),
        sorted(subject_keys(record)),
        initial_values(record),
        allow_duplicate,
    )


def add_book(
    session: Session | Connection, record: Record, *, by: str, allow_duplicate: bool = False
) -> BookValues:
    """Add a book. The same ISBN as a live book is a DuplicateBook, and so are the same title
    and authors without an ISBN, unless ``allow_duplicate``."""
    return insert_book(session, new_book(record, by=by, allow_duplicate=allow_duplicate))


def insert_book(session: Session | Connection, new: NewBook) -> BookValues:
    """Add a book worked out by :func:`new_book`, with the duplicate rules of
    :func:`add_book`: its row (the duplicate check inside the INSERT), its author and subject
    rows, the count and the history entry, five statements back to back on SQLite, one on
    PostgreSQL."""
    row = new.row
    duplicate = row["duplicate_key"]
    connection = connection_of(session)
    if connection.dialect.name == "postgresql":
        return _insert_in_one(connection, new)
    isbn = row["isbn"]
    if isbn:
        found = INSERT_NEW_ISBN.run(connection, row).fetchone()
        if found is None:
            raise _isbn_holder(connection, isbn, None)
    elif new.allow_duplicate:
        found = INSERT.run(connection, row).fetchone()
    else:
        written = tuple(name for name, value in row.items() if value is not None)
        found = (
            insert_new_title(written)
            .run(connection, {"b_duplicate_key": duplicate, **{f"v_{n}": row[n] for n in written}})
            .fetchone()
        )
        if found is None:
            raise _title_taken(connection, duplicate, None)
    assert found is not None
    book_id = int(found[0])
    AUTHOR_ROWS[0].run_many(connection, _facet_rows(book_id, new.authors, "name_key"))
    SUBJECT_ROWS[0].run_many(connection, _facet_rows(book_id, new.subjects, "subject_key"))
    counts.adjust(connection, +1)
    history.add(
        connection, book_id, 1, "created", row["created_at"], row["created_by"], new.changes
    )
    return new.values(book_id)


def _insert_in_one(connection: Connection, new: NewBook) -> BookValues:
    """PostgreSQL: :func:`insert_book` in one statement (:mod:`books_service.pg_writes`)."""
    one, params = new.statement()
    found = one.run(connection, params).fetchone()
    if found is None:
        raise new.duplicate(connection)
    return new.values(int(found[0]))


def _current(book: Mapping[str, Any] | Book) -> dict[str, Any]:
    if isinstance(book, Mapping):
        return {name: book[name] for name in EDITABLE_FIELDS}
    return {name: getattr(book, name) for name in EDITABLE_FIELDS}


@dataclass(frozen=True)
class PlannedChange:
    """A change of a stored book, worked out before it is written: the columns it SETs (the
    new version and its time among them), the duplicate check its UPDATE carries and that
    check's parameters, whether the author or subject rows change, and the history entry's
    field changes."""

    stored: dict[str, Any]
    record: Record
    diff: dict[str, Any]
    duplicate_key: str
    sets: dict[str, Any]
    checks: dict[str, Any]
    check: pg_writes.Check
    facets: bool

    @property
    def book_id(self) -> int:
        return int(self.stored["id"])

    def values(self) -> BookValues:
        """The book as the change leaves it."""
        return BookValues({**self.stored, **self.sets})

    def steps(self) -> list[tuple[Prepared, dict[str, Any]]]:
        """PostgreSQL, the book's row locked: its statements: the title's lock when the title
        is the check, then the one statement (a row back: changed; none: a live book is its
        duplicate)."""
        steps: list[tuple[Prepared, dict[str, Any]]] = []
        if self.check == "title":
            steps.append((ADVISORY_LOCK, {"key": pg_writes.title_lock(self.duplicate_key)}))
        steps.append(self._statement(self.check, UPDATES[self.check], self.checks))
        return steps

    def at_version(self) -> tuple[Prepared, dict[str, Any]]:
        """PostgreSQL, the book read without a lock: the one statement, alone the whole change,
        that writes it only if the book is still at the version it was read at (a row back:
        changed; none: changed meanwhile, deleted, or a live book is its duplicate)."""
        checks = {**self.checks, "b_version": self.stored["version"]}
        if self.check == "title":
            checks["b_lock"] = pg_writes.title_lock(self.duplicate_key)
        return self._statement(f"{self.check}@version", UPDATES_AT_VERSION[self.check], checks)

    def _statement(
        self, name: str, update_book: Update, checks: dict[str, Any]
    ) -> tuple[Prepared, dict[str, Any]]:
        one = pg_writes.changing(
            name, update_book, tuple(self.sets), facets=self.facets, action="updated"
        )
        changed = _facet_changes(self.stored, self.record) if self.facets else None
        return one, pg_writes.change_params(self.sets, checks, self.diff, changed)

    def duplicate(self, connection: Connection | Session) -> DuplicateBook:
        """The 409 of a change whose check found a duplicate, naming that book."""
        if self.check == "isbn":
            return _isbn_holder(connection, self.record["isbn"], self.book_id)
        return _title_taken(connection, self.duplicate_key, self.book_id)


def plan_change(
    stored: dict[str, Any], record: Record, *, by: str, allow_duplicate: bool
) -> PlannedChange | None:
    """How the stored book becomes ``record`` as ``by`` now; None when nothing changes (no new
    version, no history entry). A new title and authors, or ISBN, is checked for a duplicate
    (the title unless ``allow_duplicate``)."""
    diff = changes(_current(stored), record)
    if not diff:
        return None
    keys = derived_keys(record)
    values = {**record, **keys}
    sets = {name: value for name, value in values.items() if stored[name] != value}
    sets.update(version=stored["version"] + 1, updated_at=utcnow(), updated_by=by)
    checks: dict[str, Any] = {"b_id": stored["id"]}
    check: pg_writes.Check = "none"
    if {"title", "author", "authors", "isbn"} & diff.keys():
        if record["isbn"]:
            check = "isbn"
            checks["b_isbn"] = record["isbn"]
        elif not allow_duplicate:
            check = "title"
            checks["b_duplicate_key"] = keys["duplicate_key"]
    facets = bool({"author", "authors", "subjects"} & diff.keys())
    return PlannedChange(stored, record, diff, keys["duplicate_key"], sets, checks, check, facets)


def _change(
    connection: Connection,
    stored: dict[str, Any],
    record: Record,
    *,
    by: str,
    allow_duplicate: bool,
) -> BookValues:
    change = plan_change(stored, record, by=by, allow_duplicate=allow_duplicate)
    if change is None:
        return BookValues(stored)
    if connection.dialect.name == "postgresql":
        _change_in_one(connection, change)
        return change.values()
    statement = UPDATE_IF[change.check] if change.check != "none" else UPDATE
    if not statement.run(connection, {**change.checks, **change.sets}).rowcount:
        raise change.duplicate(connection)
    book_id, sets = change.book_id, change.sets
    if change.facets:
        _rewrite_facets(connection, book_id, stored, record)
    counts.adjust(connection, 0)  # as many live books, one more change
    history.add(
        connection, book_id, sets["version"], "updated", sets["updated_at"], by, change.diff
    )
    return change.values()


def _change_in_one(connection: Connection, change: PlannedChange) -> None:
    """PostgreSQL: the change's statements (:meth:`PlannedChange.steps`) in the caller's
    transaction; a DuplicateBook if its check finds one."""
    *before, (one, params) = change.steps()
    for statement, lock in before:
        statement.run(connection, lock)

    def update() -> bool:
        return one.run(connection, params).fetchone() is not None

    if change.check == "isbn" and "isbn" in change.sets:
        # A concurrent book taking the same ISBN that commits first is caught by the unique
        # index: in a savepoint, that is a 409 like any other duplicate, not a 500.
        try:
            with connection.begin_nested():
                updated = update()
        except IntegrityError:
            updated = False
    else:
        updated = update()
    if not updated:
        raise change.duplicate(connection)


def replace_book(
    session: Session | Connection,
    book_id: int,
    record: Record,
    *,
    by: str,
    versions: Versions | None = None,
    allow_duplicate: bool = False,
) -> BookValues:
    """PUT: the book becomes exactly ``record`` (fields it left empty are cleared)."""
    return change_book(
        session,
        book_id,
        lambda _: record,
        by=by,
        versions=versions,
        allow_duplicate=allow_duplicate,
    )


MakeRecord = Callable[[dict[str, Any]], Record]


def change_book(
    session: Session | Connection,
    book_id: int,
    make_record: MakeRecord,
    *,
    by: str,
    versions: Versions | None = None,
    allow_duplicate: bool = False,
) -> BookValues:
    """A change of the book into ``make_record(stored)``, made from its stored columns read
    under its lock, once its version is one ``versions`` accepts: what :func:`replace_book`
    and :func:`patch_book` do."""
    connection = connection_of(session)
    stored = _stored(connection, book_id)
    check_version(stored, versions)
    record = make_record(stored)
    return _change(connection, stored, record, by=by, allow_duplicate=allow_duplicate)


def patch_document(book: Mapping[str, Any] | Book, patch: Mapping[str, Any]) -> dict[str, Any]:
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
    session: Session | Connection,
    book_id: int,
    patch: Mapping[str, Any],
    *,
    by: str,
    versions: Versions | None = None,
    allow_duplicate: bool = False,
) -> BookValues:
    """PATCH (JSON Merge Patch): only the fields named change. The merged result is validated
    like a whole new record (a book_rules.ValidationError if it is not), so a patch can never
    leave a book invalid."""
    return change_book(
        session,
        book_id,
        lambda stored: patched_record(stored, patch),
        by=by,
        versions=versions,
        allow_duplicate=allow_duplicate,
    )


def patched_record(stored: Mapping[str, Any], patch: Mapping[str, Any]) -> Record:
    """The record a merge patch makes of the stored book, validated (a book_rules
    ValidationError if it is not a valid book)."""
    document = patch_document(stored, patch)
    kept = {
        name: value
        for name, value in _current(stored).items()
        if name not in patch and name in document and document[name] == value
    }
    return validate_document(document, kept)


def delete_book(
    session: Session | Connection, book_id: int, *, by: str, versions: Versions | None = None
) -> None:
    """Soft delete: the book disappears from every read and search; an administrator can list
    and restore it, or purge it."""
    connection = connection_of(session)
    stored = _stored(connection, book_id)
    check_version(stored, versions)
    if connection.dialect.name == "postgresql":
        statement, params = deletion_step(stored, by=by)
        statement.run(connection, params)
        return
    sets = _deletion_sets(stored, by)
    UPDATE.run(connection, {"b_id": book_id, **sets})
    counts.adjust(connection, -1)
    history.add(connection, book_id, sets["version"], "deleted", sets["updated_at"], by, {})


def _deletion_sets(stored: Mapping[str, Any], by: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "deleted_at": now,
        "updated_at": now,
        "deleted_by": by,
        "updated_by": by,
        "version": stored["version"] + 1,
    }


def deletion_step(stored: Mapping[str, Any], *, by: str) -> tuple[Prepared, dict[str, Any]]:
    """PostgreSQL: deleting the stored book (its row locked: it is there to update) as ``by``
    now: the UPDATE, the count and the history in one statement, and its parameters."""
    sets = _deletion_sets(stored, by)
    one = pg_writes.changing("none", UPDATE_BOOK, tuple(sets), facets=False, action="deleted")
    return one, pg_writes.change_params(sets, {"b_id": stored["id"]}, {})


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
    history.add(session, book.id, book.version, "restored", book.updated_at, by, {})
    return book


def purge_book(session: Session, book_id: int) -> None:
    """Remove a deleted book for good, with its history: nothing of it remains."""
    book = _locked(session, book_id, deleted=True)
    for table in (BookAuthor, BookSubject, BookHistory):
        session.execute(delete(table).where(table.book_id == book.id))
    session.delete(book)
    session.flush()
    counts.adjust(session, 0)
