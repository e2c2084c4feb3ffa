"""A book record's rules that are not about HTTP or SQL: the author/authors pair, the derived
keys used for sorting, duplicates and search, the public representation, and what changed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from books_service.isbn import to_isbn10
from common.text import fold

# The fields a client writes (all but title and author are optional).
EDITABLE_FIELDS = (
    "title",
    "subtitle",
    "author",
    "authors",
    "isbn",
    "publisher",
    "published_year",
    "published_date",
    "language",
    "page_count",
    "subjects",
    "description",
    "cover_url",
    "series",
    "series_index",
    "copies",
)
# "Neil Gaiman & Terry Pratchett", "A; B": separators that never occur inside one name.
_AUTHOR_SEPARATORS = re.compile(r"\s*(?:;|&)\s*")


def split_authors(author: str) -> list[str]:
    names = [name for name in _AUTHOR_SEPARATORS.split(author) if name]
    return names or [author]


def join_authors(authors: Iterable[str]) -> str:
    return "; ".join(authors)


def complete_authors(fields: dict[str, Any]) -> dict[str, Any]:
    """Fill ``author`` from ``authors`` or the other way round, whichever is missing."""
    if fields.get("authors") and not fields.get("author"):
        fields["author"] = join_authors(fields["authors"])
    elif fields.get("author") and not fields.get("authors"):
        fields["authors"] = split_authors(fields["author"])
    return fields


def derived_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The folded keys stored beside a record (recomputed on every write)."""
    title_key = fold(fields["title"])
    author_key = fold(fields["author"])
    parts = [
        fields.get("title"),
        fields.get("subtitle"),
        fields.get("author"),
        *(fields.get("authors") or []),
        *(fields.get("subjects") or []),
        fields.get("description"),
        fields.get("series"),
        fields.get("publisher"),
    ]
    isbn = fields.get("isbn")
    if isbn:
        parts += [isbn, to_isbn10(isbn)]
    return {
        "title_key": title_key[:500],
        "author_key": author_key[:300],
        "publisher_key": fold(fields["publisher"])[:300] if fields.get("publisher") else None,
        "duplicate_key": f"{title_key}\x1f{author_key}"[:900],
        "search_text": fold(" ".join(p for p in parts if p)),
    }


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"from": old, "to": new}}`` for every editable field that differs."""
    return {
        name: {"from": before.get(name), "to": after.get(name)}
        for name in EDITABLE_FIELDS
        if before.get(name) != after.get(name)
    }
