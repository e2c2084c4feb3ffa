"""After an import, a duplicate check (a book's title and authors already in the catalog)
reads the duplicate-key index: the import leaves the statistics PostgreSQL's planner needs
(``common.bulk_writes``), even where autovacuum is off or has not got to the tables yet.
Checked without timing anything, by reading the databases' own plans of the service's own
queries; SQLite and PostgreSQL.

Without them, on a catalog filled by an import into a new database, PostgreSQL's planner read
the whole live-ISBN index, or the whole table, for each lookup (docs/performance.md, "Import on
PostgreSQL: the planner's statistics")."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from psycopg import sql
from sqlalchemy import event, func, select

from books_service import catalog as catalog_module
from books_service.book_rules import validate_book
from books_service.isbn import isbn13_check_digit
from books_service.models import Book
from books_service.transfer import importer, runner
from books_service.transfer.rows import Row
from common.db import Database
from common.prepared import Prepared
from tests.support.databases import migrated, new_books_url
from tests.support.import_jobs import claimed_job
from tests.support.plans import plan

BOOKS = 10_000


def _isbn(n: int) -> str:
    """Every other book has an ISBN."""
    if n % 2:
        return ""
    stem = f"978{n:09d}"
    return stem + isbn13_check_digit(stem)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def catalog(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A new catalog filled by an import, half of its books without an ISBN."""
    with migrated("books", new_books_url(request, "duplicate_plans")) as db:
        rows = [f"{n},Book {n},Author {n % 97},,,{_isbn(n)},,read\n" for n in range(1, BOOKS + 1)]
        job_id = claimed_job(db, rows)
        assert runner.run(db, job_id, runner.Tuning(batch_rows=2000)) == "succeeded"
        with db.read() as session:
            assert session.scalar(select(func.count()).select_from(Book)) == BOOKS
        yield db


def _assert_reads_the_duplicate_key_index_only(db: Database, statement: str, params: Any) -> None:
    explained = plan(db, statement, params)
    assert "ix_books_duplicate_key" in explained, explained
    assert "uq_books_isbn_live" not in explained, explained
    assert "Seq Scan" not in explained and "SCAN books" not in explained, explained


@contextmanager
def _duplicate_checks(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """The statements SQLAlchemy runs meanwhile that look for a duplicate key, with their
    parameters (not those :mod:`common.prepared` runs on the DBAPI cursor)."""
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if re.search(r"duplicate_key (=|IN)", statement):
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)


def test_an_imports_lookup_of_titles_reads_the_duplicate_key_index_only(
    catalog: Database,
) -> None:
    rows = [Row(n, b"", {"title": f"New book {n}", "author": "Someone Else"}) for n in range(1, 6)]
    batch = importer.check(rows)
    with _duplicate_checks(catalog) as seen, catalog.read() as session:
        context = importer.Context(99, "books.csv", None, "skip", True, "tester")
        planned = importer.plan(session, batch, context)
    assert [p.action for p in planned] == ["create"] * len(rows)
    assert len(seen) == 1, seen
    _assert_reads_the_duplicate_key_index_only(catalog, *seen[0])


# On SQLite the check is inside the INSERT, run by common.prepared; and SQLite's planner keeps
# no statistics to miss.
@pytest.mark.parametrize("catalog", ["postgres"], indirect=True)
def test_the_apis_check_of_a_new_title_reads_the_duplicate_key_index_only(
    catalog: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is the look of ``estante_title_free`` (migration books_0006), which the
    book's INSERT calls: its query is planned by the function, as a custom plan for its first
    runs and maybe a generic one after; both read the duplicate-key index only."""
    record = validate_book({"title": "A title nobody has", "author": "Someone Else"})
    ran: list[tuple[Prepared, Mapping[str, Any]]] = []
    run = Prepared.run

    def recorded(self: Prepared, connection: Any, params: Mapping[str, Any]) -> Any:
        ran.append((self, params))
        return run(self, connection, params)

    monkeypatch.setattr(Prepared, "run", recorded)
    with pytest.raises(_RolledBack), catalog.transaction() as session:
        catalog_module.add_book(session, record, by="tester")
        raise _RolledBack
    (statement, params), *_ = ran
    assert "estante_title_free(" in statement.bound(catalog.engine.dialect, params)[0]
    for explained in _looks_planned(catalog, params["v_duplicate_key"]):
        _assert_reads_only_the_duplicate_key_index(explained)


@pytest.mark.parametrize("catalog", ["postgres"], indirect=True)
def test_the_apis_check_of_a_changed_title_reads_the_duplicate_key_index_only(
    catalog: Database,
) -> None:
    """A change's statement calls ``estante_title_free`` with the book left out (migration
    books_0007): its look, custom and generic, reads the duplicate-key index only."""
    record = validate_book({"title": "Another title nobody has", "author": "Someone Else"})
    read = catalog_module.read_stored(1)
    assert read is not None
    with catalog.engine.connect() as connection:
        stored = read[0].first(connection, read[1])
    assert stored is not None
    change = catalog_module.plan_change(stored, record, by="tester", allow_duplicate=False)
    assert change is not None and change.check == "title"
    statement, params = change.at_version()
    assert "estante_title_free(" in statement.bound(catalog.engine.dialect, params)[0]
    for explained in _looks_planned(catalog, params["b_duplicate_key"], exclude=1):
        _assert_reads_only_the_duplicate_key_index(explained)


def _looks_planned(catalog: Database, key: str, exclude: int | None = None) -> list[str]:
    """The custom and the generic plan of the look in ``estante_title_free`` (the one that
    leaves a book out when ``exclude`` is given), with the key and book given."""
    arguments = 2 if exclude is None else 3
    with catalog.engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        body = raw.execute(
            "SELECT prosrc FROM pg_proc WHERE proname = 'estante_title_free' AND pronargs = %s",
            (arguments,),
        )
        (source,) = body.fetchone() or ("",)
        look = re.search(
            r"SELECT FROM books\s+WHERE duplicate_key = key AND deleted_at IS NULL"
            r"(?:\s+AND id <> exclude)?",
            source,
        )
        assert look, source
        query = " ".join(look[0].split()).replace("= key", "= $1").replace("exclude", "$2")
        types, values = ("varchar", "bigint")[: arguments - 1], [key, exclude][: arguments - 1]
        raw.execute(f"PREPARE look({', '.join(types)}) AS {query}")
        plans = []
        for mode in ("force_custom_plan", "force_generic_plan"):
            raw.execute(f"SET plan_cache_mode = {mode}")
            explain = sql.SQL("EXPLAIN EXECUTE look({})").format(
                sql.SQL(", ").join(sql.Literal(value) for value in values)
            )
            rows = raw.execute(explain).fetchall()
            plans.append("\n".join(row[0] for row in rows))
        raw.execute("DEALLOCATE look")  # a prepared statement outlives the transaction
        connection.rollback()
    return plans


def _assert_reads_only_the_duplicate_key_index(explained: str) -> None:
    assert "ix_books_duplicate_key" in explained, explained
    assert "uq_books_isbn_live" not in explained, explained
    assert "Seq Scan on books" not in explained, explained


class _RolledBack(Exception):
    """Ends a transaction whose changes the test does not keep."""
