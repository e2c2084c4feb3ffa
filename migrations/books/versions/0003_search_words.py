"""search on words: keys reduced to words, PostgreSQL's search vector stored

The search keys (``title_key``, ``author_key``, ``search_text``) were folded text with its
punctuation; they become folded *words* separated by single spaces. SQLite's FTS5 tokenizer
dropped punctuation itself, but PostgreSQL's parser keeps "1939-1945", "2.0", e-mail addresses
and URLs as tokens of their own, so the same query found different books on the two databases.
With words only, both engines see the same words (and sorting by title or author ignores
punctuation).

The new keys are computed from the old ones (already folded): splitting them into words is all
that changes, copied below rather than imported, since a migration is a snapshot.

PostgreSQL also gets the weighted search vector as a stored generated column with the GIN index
on it (instead of an index on the expression): ranking and tier checks then read the vector
instead of parsing three columns of text again for every match. SQLite's FTS5 index is rebuilt
from the new keys.

Revision ID: books_0003
Revises: books_0002
Create Date: 2026-12-01
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "books_0003"
down_revision = "books_0002"
branch_labels = None
depends_on = None

BATCH = 5000
_NOT_WORD = re.compile(r"[\W_]+")
KEYS = ("title_key", "author_key", "search_text")
VECTOR = (
    "setweight(to_tsvector('simple'::regconfig, title_key), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, author_key), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, search_text), 'D')"
)
# 0002's index, for the way down.
OLD_POSTGRES_INDEX = (
    "CREATE INDEX ix_books_search ON books USING GIN ((" + VECTOR + ")) WHERE deleted_at IS NULL"
)


def words_of(folded: str) -> str:
    """An already folded text as its words (books_service.records.words, minus the folding)."""
    return " ".join(_NOT_WORD.split(folded)).strip()


def rewrite_keys(connection: sa.Connection) -> None:
    """Every book's keys as words, in batches by id (one round trip per batch, not per book)."""
    books = sa.table("books", sa.column("id"), *(sa.column(k) for k in KEYS))
    update = (
        sa.update(books)
        .where(books.c.id == sa.bindparam("book_id"))
        .values({k: sa.bindparam(f"new_{k}") for k in KEYS})
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(books).where(books.c.id > last).order_by(books.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        changed = [
            {"book_id": row.id, **{f"new_{k}": words_of(getattr(row, k) or "") for k in KEYS}}
            for row in rows
            if any(words_of(getattr(row, k) or "") != (getattr(row, k) or "") for k in KEYS)
        ]
        if changed:
            connection.execute(update, changed)
        last = rows[-1].id


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        # Rewriting every row through the update trigger would delete and re-add each book in
        # the index one by one; the index is rebuilt once instead.
        trigger = connection.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
            {"name": "books_fts_update"},
        ).scalar_one()
        op.execute("DROP TRIGGER books_fts_update")
        rewrite_keys(connection)
        op.execute(trigger)
        # Not 'rebuild': that would index the deleted books too (the index holds live ones).
        op.execute("INSERT INTO books_fts (books_fts) VALUES ('delete-all')")
        op.execute(
            "INSERT INTO books_fts (rowid, title_key, author_key, search_text) "
            "SELECT id, title_key, author_key, search_text FROM books WHERE deleted_at IS NULL"
        )
        return
    op.execute("DROP INDEX IF EXISTS ix_books_search")
    rewrite_keys(connection)
    op.execute(
        f"ALTER TABLE books ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({VECTOR}) STORED"
    )
    op.execute(
        "CREATE INDEX ix_books_search ON books USING GIN (search_vector) WHERE deleted_at IS NULL"
    )


def downgrade() -> None:
    # The keys stay words: 0002's search reads them as well as it read folded text.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_books_search")
        op.execute("ALTER TABLE books DROP COLUMN search_vector")
        op.execute(OLD_POSTGRES_INDEX)
