"""The books database moves from the foundation schema (books_0001) to the catalog (books_0002)
keeping every book and every field, on SQLite and PostgreSQL: 0002 writes exactly the values
spelled out here (not whatever the service's code computes today), the migrated books then
behave like books added through the service (search, filters, duplicates, counts, history), and
the downgrade works."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, DateTime, column, func, select, table, text

from books_service import catalog, counts, listing
from books_service.book_rules import validate_book
from books_service.models import BookHistory
from common import migrations
from common.clock import as_utc
from common.db import Database

CREATED = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
# What the foundation schema could hold: the widest and oddest of it.
OLD_BOOKS: list[dict[str, Any]] = [
    {"id": 1, "title": "Dom Casmurro", "author": "Machado de Assis", "created_by": "ana"},
    {
        "id": 2,
        "title": "O Pequeno Príncipe",
        "author": "Antoine de Saint-Exupéry",
        "created_by": "bia",
    },
    {
        "id": 7,
        "title": "Good Omens",
        "author": "Neil Gaiman & Terry Pratchett",
        "created_by": "caio",
    },
    {"id": 8, "title": "t" * 500, "author": "a" * 300, "created_by": "u" * 64},
    {
        "id": 9,
        "title": "星の王子さま 📚 — “quoted” 'single'",
        "author": "Søren; Łukasz",
        "created_by": "x.y-z_1",
    },
    {
        "id": 10,
        "title": "Dom Casmurro",
        "author": "Machado de Assis",
        "created_by": "ana",
    },  # a duplicate
]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'books.db'}"
    else:
        yield request.getfixturevalue("postgres").create_database("books_migration")


def fill_foundation(url: str) -> None:
    migrations.upgrade("books", url, "books_0001")
    database = Database(url)
    try:
        with database.engine.begin() as connection:
            for i, book in enumerate(OLD_BOOKS):
                created = CREATED + timedelta(days=i)
                # Book 2 was updated after it was added; the others never were.
                updated = created + timedelta(hours=5) if book["id"] == 2 else created
                connection.execute(
                    text(
                        "INSERT INTO books (id, title, author, created_at, updated_at, created_by) "
                        "VALUES (:id, :title, :author, :created, :updated, :created_by)"
                    ),
                    {**book, "created": created, "updated": updated},
                )
    finally:
        database.dispose()


def key(title_words: str, *author_words: str) -> str:
    """A duplicate key as 0002 stores it: the folded words of the title and of each author."""
    return hashlib.sha256((title_words + "\x1f" + "\x1e".join(author_words)).encode()).hexdigest()


# What 0002 writes for each foundation book, spelled out: a migration is a snapshot, so these
# must never follow later changes to the service's code (only a new migration may change them).
# (authors, title_key, author_key, search_text, duplicate_key, author filter keys)
MIGRATED: dict[int, tuple[list[str], str, str, str, str, set[str]]] = {
    1: (
        ["Machado de Assis"],
        "dom casmurro",
        "machado de assis",
        "machado de assis",
        key("dom casmurro", "machado de assis"),
        {"machado de assis"},
    ),
    2: (
        ["Antoine de Saint-Exupéry"],
        "o pequeno principe",
        "antoine de saint-exupery",
        "antoine de saint-exupery",
        key("o pequeno principe", "antoine de saint exupery"),
        {"antoine de saint-exupery"},
    ),
    7: (
        ["Neil Gaiman", "Terry Pratchett"],
        "good omens",
        "neil gaiman & terry pratchett",
        "neil gaiman terry pratchett",
        key("good omens", "neil gaiman", "terry pratchett"),
        {"neil gaiman", "terry pratchett", "neil gaiman & terry pratchett"},
    ),
    8: (["a" * 300], "t" * 500, "a" * 300, "a" * 300, key("t" * 500, "a" * 300), {"a" * 300}),
    9: (
        ["Søren", "Łukasz"],
        "星の王子さま 📚 — “quoted” 'single'",
        "soren; lukasz",
        "soren lukasz",
        key("星の王子さま quoted single", "soren", "lukasz"),
        {"soren", "lukasz", "soren; lukasz"},
    ),
    10: (
        ["Machado de Assis"],
        "dom casmurro",
        "machado de assis",
        "machado de assis",
        key("dom casmurro", "machado de assis"),
        {"machado de assis"},
    ),
}
# The tables as 0002 leaves them (not the service's models, which follow the latest revision).
BOOKS_0002 = table(
    "books",
    *(column(name) for name in ("id", "title", "author", "created_by", "updated_by")),
    *(column(name) for name in ("title_key", "author_key", "publisher_key", "search_text")),
    *(column(name) for name in ("duplicate_key", "year_sort", "version", "copies", "isbn")),
    column("created_at", DateTime(timezone=True)),
    column("updated_at", DateTime(timezone=True)),
    column("deleted_at", DateTime(timezone=True)),
    column("authors", JSON),
    column("subjects", JSON),
)
AUTHORS_0002 = table("book_authors", column("book_id"), column("name_key"))
HISTORY_0002 = table(
    "book_history",
    *(column(name) for name in ("book_id", "version", "action", "changed_by")),
    column("changes", JSON),
)
COUNTS_0002 = table("book_counts", column("slot"), column("live"))


def test_0002_keeps_every_book_and_field_and_completes_them(database_url: str) -> None:
    fill_foundation(database_url)
    migrations.upgrade("books", database_url, "books_0002")
    assert migrations.current_revision("books", database_url) == "books_0002"
    database = Database(database_url)
    try:
        with database.engine.connect() as connection:
            books = connection.execute(select(BOOKS_0002).order_by(BOOKS_0002.c.id)).all()
            names = {tuple(row) for row in connection.execute(select(AUTHORS_0002))}
            history = connection.execute(
                select(HISTORY_0002).order_by(HISTORY_0002.c.book_id)
            ).all()
            live = connection.execute(select(func.sum(COUNTS_0002.c.live))).scalar()
    finally:
        database.dispose()

    assert [b.id for b in books] == [b["id"] for b in OLD_BOOKS]
    for i, (old, new) in enumerate(zip(OLD_BOOKS, books, strict=True)):
        created = CREATED + timedelta(days=i)
        assert (new.title, new.author, new.created_by) == (
            old["title"],
            old["author"],
            old["created_by"],
        )
        assert as_utc(new.created_at) == created
        assert as_utc(new.updated_at) == (
            created + timedelta(hours=5) if old["id"] == 2 else created
        )
        authors, title_key, author_key, search_text, duplicate_key, _ = MIGRATED[old["id"]]
        assert (new.authors, new.title_key, new.author_key) == (authors, title_key, author_key)
        assert (new.search_text, new.duplicate_key) == (search_text, duplicate_key)
        assert (new.publisher_key, new.year_sort, new.isbn, new.deleted_at) == (
            None,
            -32768,
            None,
            None,
        )
        assert (new.subjects, new.copies, new.version) == ([], 1, 1)
        # Who changed book 2 before there was a history is not known.
        assert new.updated_by == (None if old["id"] == 2 else old["created_by"])

    assert names == {
        (book_id, name) for book_id, expected in MIGRATED.items() for name in expected[5]
    }
    assert [(h.book_id, h.version, h.action, h.changed_by) for h in history] == [
        (b["id"], 1, "created", b["created_by"]) for b in OLD_BOOKS
    ]
    for old, entry in zip(OLD_BOOKS, history, strict=True):
        assert entry.changes == {
            "title": {"from": None, "to": old["title"]},
            "author": {"from": None, "to": old["author"]},
            "authors": {"from": None, "to": MIGRATED[old["id"]][0]},
            "copies": {"from": None, "to": 1},
        }
    assert live == len(OLD_BOOKS)


def test_migrated_books_behave_like_books_added_through_the_service(database_url: str) -> None:
    fill_foundation(database_url)
    migrations.upgrade("books", database_url)
    assert migrations.current_revision("books", database_url) == migrations.head_revision("books")
    database = Database(database_url)
    try:
        with database.read() as session:
            assert counts.live_books(session) == len(OLD_BOOKS)

            # The migrated books are found, filtered and sorted like any others.
            def ids(**filters: Any) -> list[int]:
                page = listing.list_books(
                    session, listing.Filters(**filters), sort=None, limit=50, cursor=None
                )
                return [b["id"] for b in page.books]

            assert ids(q="exupery") == [2]
            assert ids(q="pratchett") == [7]
            assert ids(q="星の王子さま") == [9]
            assert ids(author="terry pratchett") == [7]
            assert ids(author="machado de assis") == [1, 10]
            assert ids(author="soren; lukasz") == [9]
        with database.transaction() as session:
            # New books come after the migrated ones (the id sequence survived).
            added = catalog.add_book(
                session, validate_book({"title": "Novo", "author": "Depois"}), by="migrator"
            )
            assert added.id == 11
            # Today's duplicate rule finds them (a later change to it needs a migration).
            for title, author in (
                ("Dom Casmurro", "Machado de Assis"),
                ("Good Omens", "Neil Gaiman; Terry Pratchett"),
                ("星の王子さま — quoted single", "Søren & Łukasz"),
            ):
                with pytest.raises(catalog.DuplicateBook):
                    catalog.add_book(
                        session, validate_book({"title": title, "author": author}), by="x"
                    )
            # And a change to one is recorded after its "created" entry.
            catalog.patch_book(session, 7, {"copies": 2}, by="migrator")
        with database.read() as session:
            changes = session.scalars(
                select(BookHistory.action).where(BookHistory.book_id == 7).order_by(BookHistory.id)
            ).all()
            assert changes == ["created", "updated"]
    finally:
        database.dispose()


def test_downgrading_returns_to_the_foundation_schema(database_url: str) -> None:
    fill_foundation(database_url)
    migrations.upgrade("books", database_url)
    database = Database(database_url)
    try:
        with database.transaction() as session:
            catalog.delete_book(session, 10, by="ana")  # deleted books cannot stay hidden there
    finally:
        database.dispose()
    migrations.downgrade("books", database_url, "books_0001")
    assert migrations.current_revision("books", database_url) == "books_0001"
    database = Database(database_url)
    try:
        with database.engine.connect() as connection:
            rows = connection.execute(text("SELECT id, title, author FROM books ORDER BY id")).all()
            tables = set(
                connection.execute(
                    text(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                        if database_url.startswith("sqlite")
                        else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    )
                ).scalars()
            )
    finally:
        database.dispose()
    assert [tuple(r) for r in rows] == [(b["id"], b["title"], b["author"]) for b in OLD_BOOKS[:-1]]
    assert not tables & {
        "book_history",
        "book_counts",
        "book_authors",
        "book_subjects",
        "books_fts",
    }
    # And up again: the books are completed once more.
    migrations.upgrade("books", database_url)
    database = Database(database_url)
    try:
        with database.read() as session:
            assert counts.live_books(session) == len(OLD_BOOKS) - 1
    finally:
        database.dispose()


def test_0003_makes_the_search_keys_words_and_rebuilds_the_search_index(
    database_url: str,
) -> None:
    """0002 wrote folded text with its punctuation ("saint-exupery"); 0003 leaves words only,
    which both databases' search engines split alike, and indexes the live books again."""
    fill_foundation(database_url)
    migrations.upgrade("books", database_url, "books_0002")
    database = Database(database_url)
    try:
        with database.engine.begin() as connection:
            # Deleted at 0002 (the update trigger takes it out of SQLite's index).
            connection.execute(
                text("UPDATE books SET deleted_at = :now, deleted_by = 'ana' WHERE id = 10"),
                {"now": CREATED},
            )
            before = connection.execute(text("SELECT author_key FROM books WHERE id = 2")).scalar()
    finally:
        database.dispose()
    assert before == "antoine de saint-exupery"
    migrations.upgrade("books", database_url, "books_0003")
    database = Database(database_url)
    sqlite = database_url.startswith("sqlite")
    try:
        with database.engine.connect() as connection:
            keys = {
                row.id: (row.title_key, row.author_key, row.search_text)
                for row in connection.execute(
                    text("SELECT id, title_key, author_key, search_text FROM books")
                )
            }

            def indexed(word: str) -> list[int]:
                query = (
                    "SELECT rowid FROM books_fts WHERE books_fts MATCH :w ORDER BY rowid"
                    if sqlite
                    else "SELECT id FROM books WHERE deleted_at IS NULL AND search_vector @@ "
                    "to_tsquery('simple', :w) ORDER BY id"
                )
                return list(connection.execute(text(query), {"w": word}).scalars())

            assert indexed("exupery") == [2]
            assert indexed("casmurro") == [1]  # not the deleted book 10
            assert indexed("quoted") == [9]
    finally:
        database.dispose()
    assert keys[2] == ("o pequeno principe", "antoine de saint exupery", "antoine de saint exupery")
    assert keys[9][0] == "星の王子さま quoted single"
    assert keys[9][1] == "soren lukasz"
    assert keys[7][1] == "neil gaiman terry pratchett"
    assert keys[8] == ("t" * 500, "a" * 300, "a" * 300)
