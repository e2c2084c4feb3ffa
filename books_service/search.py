"""Full-text search: one interface, an engine per database, the same folding for both.

What is searched is three folded columns of each book (see :mod:`books_service.records`):
``title_key`` (weighted most), ``author_key`` and ``search_text`` (subtitle, series, every author,
subjects, publisher, description, ISBN-13 and ISBN-10). Accents and case are folded in Python on
the way in and on the query, so "exupery" finds "Exupéry" on both databases without any
database extension.

* **SQLite**: an FTS5 table ``books_fts`` over those columns (external content: the text is not
  stored twice), holding only live books. Triggers created by the migration keep it in step
  with ``books`` inside the writing transaction itself. Ranked by ``bm25``.
* **PostgreSQL**: a GIN index on a weighted ``tsvector`` expression of the same columns (partial:
  live books only), which PostgreSQL maintains itself. Ranked by ``ts_rank``.

Every word of a query must match (AND), as a prefix once it has three characters ("exu" finds
"Exupéry" while the user types); shorter words match whole words only, since a one- or
two-letter prefix matches a large part of any big catalog and costs accordingly. Query text
never reaches either engine's query syntax: it is reduced to words of letters and digits first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, FromClause, func, literal_column, select, table, text

from books_service.records import fold

MAX_TERMS = 16
MIN_PREFIX = 3
MAX_TERM_LENGTH = 64
# bm25 weights of the FTS5 columns (title_key, author_key, search_text).
SQLITE_WEIGHTS = (10.0, 4.0, 1.0)
# The indexed expression: PostgreSQL uses the index only for this exact expression, which the
# migration creates (a test checks the plan uses it). Weights: A title, B author, D the rest.
PG_VECTOR_SQL = (
    "setweight(to_tsvector('simple'::regconfig, books.title_key), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, books.author_key), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, books.search_text), 'D')"
)
_WORD = re.compile(r"[^\W_]+")
# "978-85-359-0277-8": hyphens inside a number are dropped, so an ISBN matches as one word.
_HYPHENATED_NUMBER = re.compile(r"\b[0-9][0-9xX]*(?:-[0-9xX]+)+\b")


def terms(query: str) -> list[str]:
    """The query's words, folded, as the engines see them; operators and punctuation are dropped."""
    query = _HYPHENATED_NUMBER.sub(lambda m: m[0].replace("-", ""), query)
    return [word[:MAX_TERM_LENGTH] for word in _WORD.findall(fold(query))][:MAX_TERMS]


@dataclass(frozen=True)
class Match:
    """How to find the books matching a query on one database: either a subquery of matching
    ids with their rank to join (SQLite), or a condition on ``books`` (PostgreSQL). ``rank`` is
    lower for better matches on both."""

    rank: ColumnElement[float]
    joined: FromClause | None = None
    condition: ColumnElement[bool] | None = None


def sqlite_match_expression(words: list[str]) -> str:
    """An FTS5 query: every word as a quoted string (no operator can slip through), a prefix
    from MIN_PREFIX characters on."""
    return " ".join(f'"{w}"*' if len(w) >= MIN_PREFIX else f'"{w}"' for w in words)


def pg_tsquery_text(words: list[str]) -> str:
    return " & ".join(f"'{w}':*" if len(w) >= MIN_PREFIX else f"'{w}'" for w in words)


def match(dialect: str, words: list[str]) -> Match:
    if dialect == "postgresql":
        vector = literal_column(f"({PG_VECTOR_SQL})")
        query = func.to_tsquery(literal_column("'simple'::regconfig"), pg_tsquery_text(words))
        return Match(
            rank=-func.ts_rank(vector, query), condition=vector.op("@@")(query).self_group()
        )
    fts = table("books_fts")
    weights = ", ".join(str(w) for w in SQLITE_WEIGHTS)
    found = (
        select(
            literal_column("books_fts.rowid").label("book_id"),
            literal_column(f"bm25(books_fts, {weights})").label("rank"),
        )
        .select_from(fts)
        .where(
            text("books_fts MATCH :fts_query").bindparams(fts_query=sqlite_match_expression(words))
        )
        .subquery("found")
    )
    return Match(rank=found.c.rank, joined=found)
