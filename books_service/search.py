"""Full-text search over the folded ``search_text`` of each book, one interface, two engines:

* SQLite: an FTS5 table (``books_fts``, unicode61 tokenizer without diacritics) whose rows are
  written in the same transaction as the book;
* PostgreSQL: a GIN index on ``to_tsvector('simple', search_text)``, kept by the database.

Both rank by relevance (bm25 / ts_rank) and match every word as a prefix, so "exup" finds
"Exupéry" while the user types. Folding (accents and case) happens in Python, the same for both.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, Select, func, literal_column, text
from sqlalchemy.orm import Session

from books_service.models import Book
from common.text import fold

_WORD = re.compile(r"\w+")


def terms(query: str) -> list[str]:
    """The query's words, folded; punctuation and operators are never passed through."""
    return _WORD.findall(fold(query))[:16]


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def index_book(session: Session, book: Book) -> None:
    """Make the book findable (again). PostgreSQL's index follows the row by itself."""
    if is_postgres(session):
        return
    session.execute(text("DELETE FROM books_fts WHERE rowid = :id"), {"id": book.id})
    session.execute(
        text("INSERT INTO books_fts (rowid, search_text) VALUES (:id, :text)"),
        {"id": book.id, "text": book.search_text},
    )


def unindex_book(session: Session, book_id: int) -> None:
    if not is_postgres(session):
        session.execute(text("DELETE FROM books_fts WHERE rowid = :id"), {"id": book_id})


def apply(
    session: Session, statement: Select, query: str
) -> tuple[Select, ColumnElement[float] | None]:
    """Restrict ``statement`` to books matching ``query``; return it and a rank expression
    (lower is better on both engines). An empty query means no search at all."""
    words = terms(query)
    if not words:
        return statement, None
    if is_postgres(session):
        document = func.to_tsvector(literal_column("'simple'"), Book.search_text)
        tsquery = func.to_tsquery(literal_column("'simple'"), " & ".join(f"{w}:*" for w in words))
        rank = -func.ts_rank(document, tsquery)
        return statement.where(document.op("@@")(tsquery)), rank
    match = " ".join(f'"{w}"*' for w in words)
    fts = (
        text(
            "SELECT rowid AS book_id, bm25(books_fts) AS rank "
            "FROM books_fts WHERE books_fts MATCH :m"
        )
        .bindparams(m=match)
        .columns(literal_column("book_id"), literal_column("rank"))
        .subquery("fts")
    )
    return statement.join(fts, fts.c.book_id == Book.id), fts.c.rank
