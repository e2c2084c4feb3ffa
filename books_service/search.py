"""Full-text search: one meaning, an engine per database.

What is searched is three columns of each book (see :mod:`books_service.records`):
``title_key``, ``author_key`` and ``search_text`` (subtitle, series, every author, subjects,
publisher, description, ISBN-13 and ISBN-10). All three are already folded (no accents, no
case) and reduced to words separated by single spaces in Python, and so is the query: both
engines' tokenizers then see the same words, and "exupery" finds "Exupéry", "1945" finds
"1939-1945" and "2.0" finds "Web 2.0" alike on both, with no database extension.

Every word of a query must match (AND); the last one also matches as a prefix once it has
three characters ("dom casm" finds "Dom Casmurro" while the user types). Earlier words are
whole words: the user has typed past them, and a prefix of every word would make each search
merge the postings of every word sharing those prefixes.

**Relevance** is where the words are found, in three tiers: every word in the title; every
word in the title and the authors; anywhere. Within a tier, books come in id order. A book's
tier depends on the book and the query alone (unlike bm25, which moves with every book added),
so a page cursor ``(tier, id)`` stays valid while the catalog changes, and each tier can be
read in the search index's own order:

* **SQLite**: an FTS5 table ``books_fts`` over the three columns (external content, live books
  only, kept in step by triggers inside the writing transaction). A tier is a column-filtered
  MATCH read in rowid order from a position, so a page costs the same at any depth and in any
  catalog size.
* **PostgreSQL**: a GIN index on a stored, weighted ``tsvector`` column (title A, authors B,
  rest D; live books only). The tier is computed from the stored vector of each match.

Query text never reaches either engine's query syntax: it is reduced to words of letters and
digits first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Integer,
    Select,
    Subquery,
    case,
    func,
    literal_column,
    select,
    table,
    text,
)

from books_service.isbn import SEPARATORS, InvalidIsbn, normalise
from books_service.records import fold

MAX_TERMS = 16
MIN_PREFIX = 3
MAX_TERM_LENGTH = 64
TIERS = 3  # 0: every word in the title; 1: in the title and authors; 2: anywhere
_WORD = re.compile(r"[^\W_]+")
# Digit groups joined by hyphens or dashes ("978-85-359-0277-8"), or by spaces
# ("978 85 359 0277 8"), possibly ending in an ISBN-10's X.
_DASH = r"[\-\u2010-\u2015]"
_HYPHENATED_DIGITS = re.compile(rf"(?<![^\W_])[0-9]+(?:{_DASH}[0-9]+)*(?:{_DASH}?[xX])?(?![^\W_])")
_SPACED_DIGITS = re.compile(r"(?<![^\W_])[0-9]+(?: [0-9]+)+(?: ?[xX])?(?![^\W_])")
SQLITE_COLUMNS = {"title": "{title_key}", "title and authors": "{title_key author_key}"}
PG_WEIGHTS = {"title": "A", "title and authors": "AB"}
# The stored vector (PostgreSQL only; created by migration books_0003).
PG_VECTOR: ColumnClause[Any] = literal_column("books.search_vector")


def _isbn_or_none(candidate: str) -> str | None:
    try:
        return normalise(candidate)
    except InvalidIsbn:
        return None


def _join_isbns(query: str) -> str:
    """ISBNs typed with hyphens, dashes or spaces become one word, as they are indexed (the
    ISBN-13 and the ISBN-10, digits only); so does the start of a hyphenated ISBN-13 being
    typed ("978-85-35"). Other hyphenated numbers stay apart: "1939-1945" is two years."""

    def hyphenated(match: re.Match[str]) -> str:
        compact = SEPARATORS.sub("", match[0])
        if _isbn_or_none(compact) or (compact.startswith(("978", "979")) and len(compact) <= 13):
            return compact
        return match[0]

    def spaced(match: re.Match[str]) -> str:
        compact = SEPARATORS.sub("", match[0])
        return compact if _isbn_or_none(compact) else match[0]

    return _SPACED_DIGITS.sub(spaced, _HYPHENATED_DIGITS.sub(hyphenated, query))


def terms(query: str) -> list[str]:
    """The query's words, folded, as the engines see them; operators and punctuation are
    dropped. A query with no letter or digit has no words (and matches nothing)."""
    return [word[:MAX_TERM_LENGTH] for word in _WORD.findall(fold(_join_isbns(query)))][:MAX_TERMS]


def _is_prefix(words: Sequence[str], position: int) -> bool:
    # The last word is being typed; a word cut at MAX_TERM_LENGTH is the start of a longer one.
    word = words[position]
    return (position == len(words) - 1 and len(word) >= MIN_PREFIX) or len(word) >= MAX_TERM_LENGTH


def sqlite_match_expression(words: Sequence[str], columns: str | None = None) -> str:
    """An FTS5 query: every word as a quoted string (no operator can slip through), the last
    one a prefix from MIN_PREFIX characters on; ``columns`` an FTS5 column filter."""
    phrase = " ".join(f'"{w}"*' if _is_prefix(words, i) else f'"{w}"' for i, w in enumerate(words))
    return f"{columns}: ({phrase})" if columns else phrase


def sqlite_tier_expression(words: Sequence[str], tier: int) -> str:
    """The FTS5 query of the books in one relevance tier (and in no better one)."""
    title = sqlite_match_expression(words, SQLITE_COLUMNS["title"])
    if tier == 0:
        return title
    title_and_authors = sqlite_match_expression(words, SQLITE_COLUMNS["title and authors"])
    if tier == 1:
        return f"({title_and_authors}) NOT ({title})"
    return f"({sqlite_match_expression(words)}) NOT ({title_and_authors})"


def pg_tsquery_text(words: Sequence[str], weights: str = "") -> str:
    """A tsquery: every word quoted, the last one a prefix from MIN_PREFIX characters on;
    ``weights`` restricts the words to the columns of those weights."""
    return " & ".join(
        f"'{w}':{'*' if _is_prefix(words, i) else ''}{weights}"
        if _is_prefix(words, i) or weights
        else f"'{w}'"
        for i, w in enumerate(words)
    )


def _tsquery(words: Sequence[str], weights: str = "") -> ColumnElement[str]:
    return func.to_tsquery(literal_column("'simple'::regconfig"), pg_tsquery_text(words, weights))


def _fts(expression: str, name: str) -> Subquery:
    """The rowids FTS5 finds for ``expression``, as a subquery ``name`` with column book_id."""
    return (
        select(literal_column("books_fts.rowid").label("book_id"))
        .select_from(table("books_fts"))
        .where(text("books_fts MATCH :" + name).bindparams(**{name: expression}))
        .subquery(name)
    )


@dataclass(frozen=True)
class Search:
    """A query's words, and how each database finds and ranks the books they match."""

    dialect: str
    words: tuple[str, ...]

    def condition(self, book_id: ColumnElement[int]) -> ColumnElement[bool]:
        """Books matching every word, wherever (for counts, filters and other sort orders)."""
        if self.dialect == "postgresql":
            return PG_VECTOR.op("@@")(_tsquery(self.words)).self_group()
        return book_id.in_(select(_fts(sqlite_match_expression(self.words), "fts_any").c.book_id))

    def tier(self) -> ColumnElement[int]:
        """PostgreSQL: the relevance tier of each matching book, from its stored vector."""
        return case(
            (PG_VECTOR.op("@@")(_tsquery(self.words, PG_WEIGHTS["title"])), 0),
            (PG_VECTOR.op("@@")(_tsquery(self.words, PG_WEIGHTS["title and authors"])), 1),
            else_=2,
        ).cast(Integer)

    def sqlite_tier(self, tier: int) -> Subquery:
        """SQLite: the books of one tier, to be joined and read in ``book_id`` order."""
        return _fts(sqlite_tier_expression(self.words, tier), f"fts_tier_{tier}")

    def sqlite_count(self) -> Select[int]:
        """SQLite: how many live books match, counted in the search index alone (it holds
        live books only), without reading any book."""
        found = _fts(sqlite_match_expression(self.words), "fts_count")
        return select(func.count()).select_from(found)
