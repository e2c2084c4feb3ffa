"""One batch of an import: every row checked with the API's rules, matched against the
catalog (by ISBN; else by title and authors; else by the source's own id), classified as
create, update, skip or reject, and written with bulk statements (books, their facets, sources
and history entries, the live count), all in the caller's transaction. No HTTP here.

A dry run classifies in the same way and writes no book; to see duplicates across its batches
(nothing is in the catalog to find) it remembers the keys of the rows it would create."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, text, update
from sqlalchemy.orm import Session

from books_service import counts
from books_service.models import (
    Book,
    BookAuthor,
    BookHistory,
    BookSource,
    BookSubject,
    ImportReject,
)
from books_service.records import (
    DERIVED_FIELDS,
    EDITABLE_FIELDS,
    author_keys,
    changes,
    complete,
    derived_keys,
    subject_keys,
)
from books_service.transfer import bulk
from books_service.transfer.keys import Keys, keys
from books_service.transfer.rows import Row
from books_service.transfer.rules import InvalidRow, validate_book

PREVIEW_ROWS = 10
# What an import writes rows into (the statistics PostgreSQL's planner needs kept up with them:
# common/bulk_writes.py).
TABLES_FILLED = ("books", "book_authors", "book_subjects", "book_sources", "book_history")
_book = cast(Table, Book.__table__)
# Fields that follow another when a row gives only that one (see catalog.patch_document).
_FOLLOWERS = {"author": "authors", "authors": "author", "published_date": "published_year"}


@dataclass
class Planned:
    row: Row
    action: str  # create, update, skip, reject
    record: dict[str, Any] | None = None
    keys: dict[str, Any] | None = None
    facets: Keys | None = None
    book_id: int | None = None
    reason: str | None = None
    new_source: bool = False
    # A valid row's books-table values (editable, lists as JSON, then derived) and its history
    # entry's JSON, made with the checks: they need no database (see check).
    values: tuple[Any, ...] = ()
    history: str = ""


@dataclass
class Context:
    """What every batch of one job shares."""

    job_id: int
    filename: str
    source: str | None
    on_duplicate: str
    dry_run: bool
    by: str
    # Dry runs only: keys of the rows that would have been created in earlier batches.
    seen: set[int] = field(default_factory=set)


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    preview: list[dict[str, Any]] = field(default_factory=list)


def _lookup(session: Session, column: Any, key: Any, values: set[Any], *where: Any) -> dict:
    found: dict[Any, int] = {}
    ordered = sorted(values)
    if bulk.one_array(session):
        for value, book_id in session.execute(
            bulk.any_of(select(column, key), column, ordered, where)
        ):
            found.setdefault(value, book_id)
        return found
    for value, book_id in session.execute(
        bulk.in_json_array(select(column, key), column, ordered, where)
    ):
        found.setdefault(value, book_id)
    return found


def check(rows: Sequence[Row]) -> list[Planned]:
    """Each row checked with the API's rules, its derived keys computed and its book values
    and history entry made ready for a create: the work that needs no database (a child
    process does it for the next batch while the job's process writes this one). The book
    values are its editable values (the lists as JSON) and derived columns, in
    ``_BOOK_COLUMNS``' order after the id."""
    planned: list[Planned] = []
    for row in rows:
        if row.error is not None or row.fields is None:
            planned.append(Planned(row, "reject", reason=row.error or "nothing to read"))
            continue
        try:
            record = validate_book(row.fields)
        except InvalidRow as error:
            planned.append(Planned(row, "reject", reason=str(error)))
            continue
        derived = keys(record)
        editable, history = bulk.created(_EDITABLE_VALUES(record))
        planned.append(
            Planned(
                row,
                "create",
                record,
                derived.columns,
                derived,
                values=(*editable, *_DERIVED_VALUES(derived.columns)),
                history=history,
            )
        )
    return planned


def plan(session: Session, planned: list[Planned], context: Context) -> list[Planned]:
    """Classify a checked batch against the catalog (reads only); again from the start when
    a batch is planned a second time."""
    valid = [p for p in planned if p.record is not None]
    for item in valid:
        item.action, item.book_id, item.reason, item.new_source = "create", None, None, False
    live = _book.c.deleted_at.is_(None)
    by_isbn = _lookup(
        session,
        _book.c.isbn,
        _book.c.id,
        {p.record["isbn"] for p in valid if p.record and p.record["isbn"]},
        live,
    )
    by_key = _lookup(
        session,
        _book.c.duplicate_key,
        _book.c.id,
        {p.keys["duplicate_key"] for p in valid if p.keys and p.record and not p.record["isbn"]},
        live,
    )
    sources = BookSource.__table__.c
    by_source = (
        _lookup(
            session,
            sources.source_id,
            sources.book_id,
            {p.row.source_id[:200] for p in valid if p.row.source_id},
            sources.source == context.source,
        )
        if context.source
        else {}
    )
    pending: dict[tuple[str, str], int] = {}  # key -> row number of the batch's create
    for item in valid:
        _classify(item, context, by_isbn, by_key, by_source, pending)
    return planned


def _keys_of(item: Planned) -> list[tuple[str, str]]:
    assert item.record is not None and item.keys is not None
    keys = []
    if item.record["isbn"]:
        keys.append(("isbn", item.record["isbn"]))
    else:
        keys.append(("title and authors", item.keys["duplicate_key"]))
    if item.row.source_id:
        keys.append(("source id", item.row.source_id[:200]))
    return keys


def _classify(
    item: Planned,
    context: Context,
    by_isbn: Mapping[str, int],
    by_key: Mapping[str, int],
    by_source: Mapping[str, int],
    pending: dict[tuple[str, str], int],
) -> None:
    assert item.record is not None and item.keys is not None
    isbn = item.record["isbn"]
    source_id = item.row.source_id[:200] if item.row.source_id else None
    existing: tuple[int, str] | None = None
    if isbn and isbn in by_isbn:
        existing = (by_isbn[isbn], "ISBN")
    elif not isbn and item.keys["duplicate_key"] in by_key:
        existing = (by_key[item.keys["duplicate_key"]], "title and authors")
    elif source_id and source_id in by_source:
        existing = (by_source[source_id], "source id")
    adding = context.on_duplicate == "add" and not isbn
    keys = _keys_of(item)
    earlier = next((pending[k] for k in keys if k in pending), None)
    if (
        earlier is None
        and context.dry_run
        and not adding
        and any(hash(k) in context.seen for k in keys)
    ):
        earlier = 0
    if existing is None and earlier is not None and not adding:
        item.action = "skip"
        where = f"row {earlier}" if earlier else "an earlier row"
        item.reason = f"the same book as {where} of this file"
        return
    if existing is None or adding:
        item.action = "create"
        item.new_source = (
            bool(source_id)
            and source_id not in by_source
            and ("source id", source_id) not in pending
        )
        for key in keys:
            pending.setdefault(key, item.row.number)
            if context.dry_run:
                context.seen.add(hash(key))
        return
    book_id, how = existing
    item.book_id = book_id
    if context.on_duplicate == "update":
        item.action = "update"
        item.new_source = bool(source_id) and source_id not in by_source
        return
    if context.on_duplicate == "add":  # an ISBN the catalog has: one record per ISBN
        item.action = "reject"
        item.reason = (
            f"book {book_id} has ISBN {isbn}: a catalog keeps one record per ISBN (change "
            "that book's copies instead)"
        )
        return
    item.action = "skip"
    item.reason = f"already in the catalog as book {book_id} (same {how})"


def _origin(context: Context, row: Row) -> dict[str, Any]:
    return {"import": context.job_id, "file": context.filename, "row": row.number}


def write(session: Session, planned: Sequence[Planned], context: Context, now: datetime) -> Outcome:
    """Write a classified batch (nothing but the rejects in a dry run); returns its counts."""
    outcome = Outcome()
    creates = [p for p in planned if p.action == "create"]
    updates = [p for p in planned if p.action == "update"]
    rejects = [p for p in planned if p.action == "reject"]
    if not context.dry_run:
        _create(session, creates, context, now)
        for item in updates:
            if not _update(session, item, context, now):
                item.action = "skip"
                item.reason = f"already in the catalog as book {item.book_id}, unchanged"
        if any(item.action == "update" for item in updates):
            counts.adjust(session, 0)  # a change: pages cached under the version are stale
    if rejects:
        session.execute(
            insert(ImportReject),
            [
                {
                    "job_id": context.job_id,
                    "row": p.row.number,
                    "original": p.row.original,
                    "reason": p.reason or "",
                }
                for p in rejects
            ],
        )
    for item in planned:
        setattr(outcome, _COUNTER[item.action], getattr(outcome, _COUNTER[item.action]) + 1)
        if item.row.number <= PREVIEW_ROWS:
            outcome.preview.append(
                {
                    "row": item.row.number,
                    "action": item.action,
                    "book": item.record if item.record is not None else item.row.fields,
                    "reason": item.reason,
                }
            )
    return outcome


_COUNTER = {"create": "created", "update": "updated", "skip": "skipped", "reject": "rejected"}


_BOOK_COLUMNS = (
    "id",
    *EDITABLE_FIELDS,
    *DERIVED_FIELDS,
    "version",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
)
_AUTHOR_COLUMNS = ("book_id", "name_key")
_SUBJECT_COLUMNS = ("book_id", "subject_key")
_SOURCE_COLUMNS = ("source", "source_id", "book_id")
_HISTORY_COLUMNS = ("book_id", "version", "action", "changed_at", "changed_by", "changes", "origin")
# A record's editable values and its derived columns as tuples in _BOOK_COLUMNS' order (one
# C call each); the lists among them are stored as JSON.
_EDITABLE_VALUES = itemgetter(*EDITABLE_FIELDS)
_DERIVED_VALUES = itemgetter(*DERIVED_FIELDS)


def _create(session: Session, creates: Sequence[Planned], context: Context, now: datetime) -> None:
    """New books and their author, subject, source and history rows, each table in one
    statement (:mod:`books_service.transfer.bulk`)."""
    if not creates:
        return
    by = context.by
    stamp = bulk.moment(session, _book, "created_at", now)
    changed_at = bulk.moment(session, cast(Table, BookHistory.__table__), "changed_at", now)
    ids = _new_ids(session, len(creates))
    books, authors, subjects, sources, entries = [], [], [], [], []
    job, filename, source = context.job_id, context.filename, context.source
    for item, book_id in zip(creates, ids, strict=True):
        item.book_id = book_id
        derived = item.facets
        assert item.record is not None and derived is not None
        books.append((book_id, *item.values, 1, stamp, stamp, by, by))
        authors += [(book_id, key) for key in derived.authors]
        subjects += [(book_id, key) for key in derived.subjects]
        if item.new_source and source and item.row.source_id:
            sources.append((source, item.row.source_id[:200], book_id))
        entries.append(
            (
                book_id,
                1,
                "created",
                changed_at,
                by,
                item.history,
                bulk.origin_json(job, filename, item.row.number),
            )
        )
    bulk.insert_books(session, _book, _BOOK_COLUMNS, books, (min(ids), max(ids)))
    new = frozenset(ids)  # the rows below are of these books only: see bulk.insert_rows
    bulk.insert_rows(session, _table(BookAuthor), _AUTHOR_COLUMNS, authors, new_books=new)
    bulk.insert_rows(session, _table(BookSubject), _SUBJECT_COLUMNS, subjects, new_books=new)
    bulk.insert_rows(session, _table(BookSource), _SOURCE_COLUMNS, sources, new_books=new)
    bulk.insert_rows(session, _table(BookHistory), _HISTORY_COLUMNS, entries, new_books=new)
    counts.adjust(session, len(creates))


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _new_ids(session: Session, n: int) -> list[int]:
    """Ids for ``n`` new books, taken as an insert would take them: from the sequence on
    PostgreSQL; on SQLite after the highest ever used (AUTOINCREMENT), which nobody else can
    take meanwhile (the write transaction is exclusive). With the ids known, the rows go in as
    one executemany instead of one INSERT ... RETURNING each."""
    if session.get_bind().dialect.name == "postgresql":
        # The sequence looked up once, not for each id (a STABLE function is called per row):
        # 1.6 instead of 6.5-7 ms for 2,000 ids.
        return list(
            session.execute(
                text(
                    "SELECT nextval(s.seq) FROM (SELECT CAST(pg_get_serial_sequence('books', "
                    "'id') AS regclass) AS seq OFFSET 0) AS s, generate_series(1, :n)"
                ),
                {"n": n},
            ).scalars()
        )
    last = session.scalar(
        text(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'books'), 0), "
            "COALESCE((SELECT MAX(id) FROM books), 0))"
        )
    )
    return list(range(int(last or 0) + 1, int(last or 0) + 1 + n))


def _update(session: Session, item: Planned, context: Context, now: datetime) -> bool:
    """Apply the fields the row gives to the matched book; False when nothing changes."""
    assert item.record is not None and item.row.fields is not None
    current = session.execute(
        select(*(_book.c[name] for name in EDITABLE_FIELDS), _book.c.version)
        .where(_book.c.id == item.book_id)
        .with_for_update()
    ).first()
    if current is None:
        return False
    before = {name: current._mapping[name] for name in EDITABLE_FIELDS}
    given = set(item.row.fields) | {_FOLLOWERS[k] for k in item.row.fields if k in _FOLLOWERS}
    after = complete({**before, **{k: item.record[k] for k in given if k in item.record}})
    diff = changes(before, after)
    if not diff:
        return False
    derived = derived_keys(after)
    version = current.version + 1
    session.execute(
        update(_book)
        .where(_book.c.id == item.book_id)
        .values(**after, **derived, version=version, updated_at=now, updated_by=context.by)
    )
    if {"author", "authors", "subjects"} & diff.keys():
        session.execute(delete(BookAuthor).where(BookAuthor.book_id == item.book_id))
        session.execute(delete(BookSubject).where(BookSubject.book_id == item.book_id))
        facets = [{"book_id": item.book_id, "name_key": k} for k in author_keys(after)]
        if facets:
            session.execute(insert(cast(Table, BookAuthor.__table__)), facets)
        subjects = [{"book_id": item.book_id, "subject_key": k} for k in subject_keys(after)]
        if subjects:
            session.execute(insert(cast(Table, BookSubject.__table__)), subjects)
    if item.new_source and context.source and item.row.source_id:
        session.execute(
            insert(cast(Table, BookSource.__table__)),
            [
                {
                    "source": context.source,
                    "source_id": item.row.source_id[:200],
                    "book_id": item.book_id,
                }
            ],
        )
    session.execute(
        insert(cast(Table, BookHistory.__table__)),
        [
            {
                "book_id": item.book_id,
                "version": version,
                "action": "updated",
                "changed_at": now,
                "changed_by": context.by,
                "changes": diff,
                "origin": _origin(context, item.row),
            }
        ],
    )
    return True
