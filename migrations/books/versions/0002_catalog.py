"""a real catalog: rich records, derived keys, versions, soft delete, facets, counts, history,
full-text search

Every book of the foundation schema is kept as it is and completed: ``authors`` from
``author``, the derived keys, version 1, and a "created" history entry (with its title and
author as they are now: the foundation schema kept no history). The derived keys are computed
as books_service.records computed them when this migration was written, copied below rather
than imported: a migration is a snapshot, and what it writes must not change when the service's
code does (a later change to the keys needs a migration of its own that recomputes them).
tests/integration/test_books_migration.py checks the values written, and that the books then
behave like books added through the service.

Full-text search is built per database: an FTS5 table kept in step by triggers on SQLite, a GIN
expression index on PostgreSQL (no extension needed: text is folded in Python).

Revision ID: books_0002
Revises: books_0001
Create Date: 2026-11-24
"""

import hashlib
import re
import unicodedata
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "books_0002"
down_revision = "books_0001"
branch_labels = None
depends_on = None

BATCH = 5000
COUNT_SLOTS = 8
NO_YEAR = -32768


TITLE_MAX = 500
AUTHOR_MAX = 300

# --- books_service.records and common.text as of this revision (title and author only: all a
# foundation book has) --------------------------------------------------------------------------

_AUTHOR_SEPARATORS = re.compile(r"\s*;\s*|\s+&\s+")
_LETTERS = str.maketrans(
    {"ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "æ": "ae"}
    | {"Æ": "ae", "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th", "\u0131": "i", "ħ": "h", "Ħ": "h"}
)
_NOT_WORD = re.compile(r"[\W_]+")


def fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.translate(_LETTERS))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def words(value: str) -> str:
    return " ".join(_NOT_WORD.split(fold(value))).strip()


def split_authors(author: str) -> list[str]:
    names = [name.strip() for name in _AUTHOR_SEPARATORS.split(author) if name.strip()]
    return names or [author]


def completed(title: str, author: str) -> dict[str, Any]:
    """A foundation book's new columns: its authors, the defaults, and the derived keys."""
    authors = split_authors(author) if author else []  # the foundation allowed ""
    normalised = words(title) + "\x1f" + "\x1e".join(words(a) for a in authors or [author])
    return {
        "authors": authors,
        "subjects": [],
        "copies": 1,
        "title_key": fold(title)[:TITLE_MAX],
        "author_key": fold(author)[:AUTHOR_MAX],
        "publisher_key": None,
        "year_sort": NO_YEAR,
        "duplicate_key": hashlib.sha256(normalised.encode()).hexdigest(),
        "search_text": fold(" ".join(authors)),
    }


def author_keys(author: str, authors: list[str]) -> set[str]:
    return {fold(name)[:AUTHOR_MAX] for name in [*authors, author] if name}


def initial_values(title: str, author: str, authors: list[str]) -> dict[str, Any]:
    given = {"title": title, "author": author, "authors": authors, "copies": 1}
    return {name: {"from": None, "to": value} for name, value in given.items() if value != []}


# -----------------------------------------------------------------------------------------------


def sort_key(length: int) -> sa.types.TypeEngine:
    # Byte order on PostgreSQL too (see books_service.models.sort_key).
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def new_columns() -> list[sa.Column]:
    """Fresh column objects each time (a Column belongs to one table)."""
    return [
        sa.Column("subtitle", sa.String(length=500), nullable=True),
        sa.Column("authors", sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("isbn", sa.String(length=13), nullable=True),
        sa.Column("publisher", sa.String(length=300), nullable=True),
        sa.Column("published_year", sa.Integer(), nullable=True),
        sa.Column("published_date", sa.String(length=10), nullable=True),
        sa.Column("language", sa.String(length=3), nullable=True),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("subjects", sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("cover_url", sa.String(length=2000), nullable=True),
        sa.Column("series", sa.String(length=300), nullable=True),
        sa.Column("series_index", sa.Float(), nullable=True),
        sa.Column("copies", sa.Integer(), server_default="1", nullable=False),
        sa.Column("title_key", sort_key(500), server_default="", nullable=False),
        sa.Column("author_key", sort_key(300), server_default="", nullable=False),
        sa.Column("publisher_key", sort_key(300), nullable=True),
        sa.Column("year_sort", sa.Integer(), server_default=str(NO_YEAR), nullable=False),
        sa.Column("duplicate_key", sa.String(length=64), server_default="", nullable=False),
        sa.Column("search_text", sa.Text(), server_default="", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.String(length=64), nullable=True),
    ]


NEW_COLUMNS = new_columns()
INDEXES = [
    ("ix_books_title_key", ["title_key", "id"]),
    ("ix_books_author_key", ["author_key", "id"]),
    ("ix_books_year_sort", ["year_sort", "id"]),
    ("ix_books_created_at", ["created_at", "id"]),
    ("ix_books_updated_at", ["updated_at", "id"]),
    ("ix_books_language", ["language", "id"]),
    ("ix_books_publisher_key", ["publisher_key", "id"]),
    ("ix_books_duplicate_key", ["duplicate_key"]),
]
LIVE = sa.text("deleted_at IS NULL")
DELETED = sa.text("deleted_at IS NOT NULL")

SQLITE_SEARCH = [
    # External content: the index reads the text from books, it does not store a copy.
    """CREATE VIRTUAL TABLE books_fts USING fts5(
        title_key, author_key, search_text,
        content='books', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    # Only live books are indexed; the triggers run inside the writing transaction.
    """CREATE TRIGGER books_fts_insert AFTER INSERT ON books WHEN new.deleted_at IS NULL BEGIN
        INSERT INTO books_fts (rowid, title_key, author_key, search_text)
        VALUES (new.id, new.title_key, new.author_key, new.search_text);
    END""",
    """CREATE TRIGGER books_fts_delete AFTER DELETE ON books WHEN old.deleted_at IS NULL BEGIN
        INSERT INTO books_fts (books_fts, rowid, title_key, author_key, search_text)
        VALUES ('delete', old.id, old.title_key, old.author_key, old.search_text);
    END""",
    """CREATE TRIGGER books_fts_update
    AFTER UPDATE OF title_key, author_key, search_text, deleted_at ON books BEGIN
        INSERT INTO books_fts (books_fts, rowid, title_key, author_key, search_text)
        SELECT 'delete', old.id, old.title_key, old.author_key, old.search_text
        WHERE old.deleted_at IS NULL;
        INSERT INTO books_fts (rowid, title_key, author_key, search_text)
        SELECT new.id, new.title_key, new.author_key, new.search_text
        WHERE new.deleted_at IS NULL;
    END""",
    """INSERT INTO books_fts (rowid, title_key, author_key, search_text)
    SELECT id, title_key, author_key, search_text FROM books WHERE deleted_at IS NULL""",
]
# Must stay the exact expression books_service.search queries, or PostgreSQL ignores the index.
POSTGRES_SEARCH = [
    """CREATE INDEX ix_books_search ON books USING GIN ((
        setweight(to_tsvector('simple'::regconfig, title_key), 'A') ||
        setweight(to_tsvector('simple'::regconfig, author_key), 'B') ||
        setweight(to_tsvector('simple'::regconfig, search_text), 'D')
    )) WHERE deleted_at IS NULL"""
]


def upgrade() -> None:
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    # On SQLite the table is rebuilt with AUTOINCREMENT: ids are then never reused, not even
    # after a purge (an ETag names the id). The rows are copied as they are.
    with op.batch_alter_table(
        "books", recreate="always" if sqlite else "auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        for column in new_columns():
            batch.add_column(column)

    op.create_table(
        "book_authors",
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("name_key", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_book_authors_book_id_books"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("book_id", "name_key", name=op.f("pk_book_authors")),
    )
    op.create_index("ix_book_authors_name_key", "book_authors", ["name_key", "book_id"])
    op.create_table(
        "book_subjects",
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("subject_key", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_book_subjects_book_id_books"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("book_id", "subject_key", name=op.f("pk_book_subjects")),
    )
    op.create_index("ix_book_subjects_subject_key", "book_subjects", ["subject_key", "book_id"])
    op.create_table(
        "book_counts",
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("live", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_book_counts")),
    )
    op.create_table(
        "book_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_book_history_book_id_books"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_book_history")),
    )
    op.create_index("ix_book_history_book_id", "book_history", ["book_id", "id"])

    fill_existing_books(connection)

    for name, columns in INDEXES:
        op.create_index(name, "books", columns)
    op.create_index(
        "uq_books_isbn_live", "books", ["isbn"], unique=True, sqlite_where=LIVE, postgresql_where=LIVE
    )
    op.create_index(
        "ix_books_deleted_at",
        "books",
        ["deleted_at", "id"],
        sqlite_where=DELETED,
        postgresql_where=DELETED,
    )
    for statement in SQLITE_SEARCH if sqlite else POSTGRES_SEARCH:
        op.execute(statement)
    if not sqlite:
        # New ids continue after the highest one, even if books were ever loaded with
        # explicit ids (on SQLite, AUTOINCREMENT already starts after the highest).
        op.execute(
            "SELECT setval(pg_get_serial_sequence('books', 'id'), COALESCE(MAX(id), 1), "
            "MAX(id) IS NOT NULL) FROM books"
        )


def fill_existing_books(connection: sa.Connection) -> None:
    """Complete every existing book, in batches (a large catalog must not need one round trip
    per book), and count them."""
    books = sa.table(
        "books",
        sa.column("id", sa.Integer),
        sa.column("title", sa.String),
        sa.column("author", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("created_by", sa.String),
        *[sa.column(c.name, c.type) for c in NEW_COLUMNS],
    )
    authors = sa.table("book_authors", sa.column("book_id"), sa.column("name_key"))
    history = sa.table(
        "book_history",
        sa.column("book_id", sa.Integer),
        sa.column("version", sa.Integer),
        sa.column("action", sa.String),
        sa.column("changed_at", sa.DateTime(timezone=True)),
        sa.column("changed_by", sa.String),
        sa.column("changes", sa.JSON),
    )
    # Executed with a list of dicts: their keys (other than book_id) become the SET clause.
    update = books.update().where(books.c.id == sa.bindparam("book_id"))
    rows = connection.execute(
        sa.select(
            books.c.id,
            books.c.title,
            books.c.author,
            books.c.created_by,
            books.c.created_at,
            books.c.updated_at,
        ).order_by(books.c.id)
    ).all()
    for start in range(0, len(rows), BATCH):
        updates, names, entries = [], [], []
        for row in rows[start : start + BATCH]:
            values = completed(row.title, row.author)
            never_changed = row.updated_at == row.created_at
            updates.append(
                {
                    "book_id": row.id,
                    **values,
                    # Who changed a book before there was a history is not known.
                    "updated_by": row.created_by if never_changed else None,
                }
            )
            keys = sorted(author_keys(row.author, values["authors"]))
            names += [{"book_id": row.id, "name_key": key} for key in keys]
            entries.append(
                {
                    "book_id": row.id,
                    "version": 1,
                    "action": "created",
                    "changed_at": row.created_at,
                    "changed_by": row.created_by,
                    "changes": initial_values(row.title, row.author, values["authors"]),
                }
            )
        connection.execute(update, updates)
        connection.execute(authors.insert(), names)
        connection.execute(history.insert(), entries)
    counts = sa.table("book_counts", sa.column("slot", sa.Integer), sa.column("live", sa.Integer))
    connection.execute(
        counts.insert(),
        [{"slot": slot, "live": len(rows) if slot == 0 else 0} for slot in range(COUNT_SLOTS)],
    )


def downgrade() -> None:
    """Back to the foundation schema. The new fields and the history are lost, and deleted
    books are removed: the foundation schema has no way to keep them hidden."""
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        for trigger in ("books_fts_insert", "books_fts_delete", "books_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS books_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_books_search")
    op.drop_table("book_history")
    op.drop_table("book_counts")
    op.drop_table("book_subjects")
    op.drop_table("book_authors")
    op.execute("DELETE FROM books WHERE deleted_at IS NOT NULL")
    op.drop_index("ix_books_deleted_at", table_name="books")
    op.drop_index("uq_books_isbn_live", table_name="books")
    for name, _ in INDEXES:
        op.drop_index(name, table_name="books")
    with op.batch_alter_table("books") as batch:
        for column in reversed(NEW_COLUMNS):
            batch.drop_column(column.name)
