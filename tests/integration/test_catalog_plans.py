"""Page 10,000 costs what page 1 costs: checked without timing anything, by reading the
databases' own plans of the service's own queries on a seeded catalog. Every sort order must be
an index range scan (no sorting of the table), deep pages included; a search must go through
the search index; the whole catalog's count must not scan the books. SQLite and PostgreSQL.

(The measured side, with a million books, is ``make bench``: docs/performance.md.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from bench.seed import seed, vocabulary
from books_service import listing
from common.db import Database
from common.pagination import Cursor
from tests.support.databases import new_books_url
from tests.support.plans import plan

BOOKS = 20_000


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    url = new_books_url(request, "plans")
    seed(url, BOOKS)
    db = Database(url)
    yield db
    db.dispose()


def statements_of(db: Database, filters: listing.Filters, **page: Any) -> list[tuple[str, Any]]:
    """The SQL (with parameters) that listing one page runs."""
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.read() as session:
            listing.list_books(
                session, filters, **{"sort": None, "limit": 50, "cursor": None, **page}
            )
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    return seen


def page_plan(db: Database, filters: listing.Filters, **page: Any) -> str:
    """The plan of the page query itself (not of the count)."""
    (statement, parameters), *_ = [
        (s, p)
        for s, p in statements_of(db, filters, **page)
        if s.lstrip().upper().startswith("SELECT") and "count(" not in s.lower()
    ]
    return plan(db, statement, parameters)


def deep_cursor(db: Database, sort: str) -> str:
    """A real cursor three quarters of the way down the list, as a Link header would hold."""
    with db.read() as session:
        order = listing.order_for(sort, searching=False)
        statement = listing.narrowed(listing.Filters())
        keys = [key.expression for key in order.keys]
        row = session.execute(
            statement.add_columns(*keys)
            .order_by(*(k.desc() if order.descending else k for k in keys))
            .offset(BOOKS * 3 // 4)
            .limit(1)
        ).one()
    return Cursor(order.name, tuple(row), False).encode()


INDEXES = {
    "id": "pk_books",
    "title": "ix_books_title_key",
    "author": "ix_books_author_key",
    "published_year": "ix_books_year_sort",
    "created_at": "ix_books_created_at",
    "updated_at": "ix_books_updated_at",
}


@pytest.mark.parametrize("sort", [*INDEXES, *(f"-{s}" for s in INDEXES)])
def test_every_sort_order_is_an_index_range_at_any_depth(database: Database, sort: str) -> None:
    field = sort.removeprefix("-")
    for cursor in (None, deep_cursor(database, sort)):
        text = page_plan(database, listing.Filters(), sort=sort, cursor=cursor)
        assert "TEMP B-TREE" not in text and "Sort" not in text, text
        if database.engine.dialect.name == "sqlite":
            # By id, the table itself is the index: scanned in order from the start (first
            # page), or searched from a position (deep page).
            expected = "INTEGER PRIMARY KEY" if field == "id" else f"USING INDEX {INDEXES[field]}"
            if field == "id" and cursor is None:
                expected = "SCAN books"
        else:
            expected = (
                f"Index Scan{' Backward' if sort.startswith('-') else ''} using {INDEXES[field]}"
            )
        assert expected in text, text


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (listing.Filters(author="Ana Silva"), "ix_book_authors_name_key"),
        (listing.Filters(subject="poesia"), "ix_book_subjects_subject_key"),
        (listing.Filters(language="fr"), "ix_books_language"),
        (listing.Filters(isbn="9780000000017"), "uq_books_isbn_live"),
    ],
)
def test_filters_use_their_indexes(
    database: Database, filters: listing.Filters, index: str
) -> None:
    assert index in page_plan(database, filters)


def test_searches_go_through_the_search_index(database: Database) -> None:
    word = vocabulary()[999]  # in some 0.05 % of the books
    sqlite = database.engine.dialect.name == "sqlite"
    for cursor in (None, Cursor("relevance", (2, BOOKS // 2), False).encode()):
        if sqlite:
            text = page_plan(database, listing.Filters(q=word), cursor=cursor)
        else:  # one statement ranks, counts and pages the matches (then books are read by id)
            ((statement, parameters),) = [
                (s, p)
                for s, p in statements_of(database, listing.Filters(q=word), cursor=cursor)
                if "search_vector @@" in s and not s.startswith("EXPLAIN")
            ]
            text = plan(database, statement, parameters)
        if sqlite:
            # A tier is read from the search index in rowid order, from the position on: no
            # sorting, and the books are looked up by id.
            assert "books_fts VIRTUAL TABLE" in text and "TEMP B-TREE" not in text, text
            assert "INTEGER PRIMARY KEY (rowid=?)" in text, text
        else:
            assert "ix_books_search" in text, text
    # SQLite counts the matches in the search index alone, which holds the live books only.
    if sqlite:
        counts = [s for s, _ in statements_of(database, listing.Filters(q=word)) if "count(" in s]
        assert counts and all(" books " not in s and "books_fts" in s for s in counts), counts


def test_a_broad_search_on_postgresql_reads_windows_of_ids_and_counts_at_most_a_cap(
    database: Database,
) -> None:
    if database.engine.dialect.name == "sqlite":
        pytest.skip("SQLite reads each tier in the search index's order: nothing is broad")
    word = vocabulary()[99]  # in about 1.1 % of the books: over 200 of the 20,000
    # Pages of 5: a window of about a thousand ids, a twentieth of the catalog, as pages of 50
    # are of a million books.
    seen = statements_of(database, listing.Filters(q=word), exact_up_to=50, limit=5)
    searching = [(s, p) for s, p in seen if "search_vector @@" in s]
    counted = [s for s, _ in searching if "count(" in s.lower()]
    assert all("LIMIT" in s for s in counted), counted
    windows = [(s, p) for s, p in searching if "page_key_1" in s]
    # One window, or a few more (each twice the span) where its matches were too few.
    assert 1 <= len(windows) <= 3, searching
    text = plan(database, *windows[0])
    # The search index's matches narrowed to one id range: a few pages' worth of rows read.
    assert "pk_books" in text and "ix_books_search" in text, text


def test_counting_the_whole_catalog_reads_no_book(database: Database) -> None:
    counts = [
        s
        for s, _ in statements_of(database, listing.Filters())
        if "count(" in s.lower() or "sum(" in s.lower()
    ]
    assert counts and all(
        "book_counts" in s and " books" not in s.replace("book_counts", "") for s in counts
    ), counts
