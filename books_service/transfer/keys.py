"""The derived columns of an imported record, and its author and subject keys, computed once per
row: the same values as :func:`books_service.records.derived_keys`, ``author_keys`` and
``subject_keys`` (a test compares them on generated records), for a third of the work.

Those three fold the title twice and every author's name two or three times; a catalog also
names the same authors, subjects and publishers again and again, so their folded forms are
kept in small caches (a pure function of the text: a cached answer cannot go stale)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from books_service.isbn import to_isbn10
from books_service.models import AUTHOR_MAX, NO_YEAR, SUBJECT_MAX, TEXT_MAX, TITLE_MAX
from books_service.records import fold, words

_CACHED = 32768  # names: a few MB at most
_fold = lru_cache(maxsize=_CACHED)(fold)
_words = lru_cache(maxsize=_CACHED)(words)
_sha256 = hashlib.sha256


@dataclass(slots=True)
class Keys:
    columns: dict[str, Any]
    authors: set[str]
    subjects: set[str]


def keys(record: Mapping[str, Any]) -> Keys:
    """A complete record's derived columns, author keys and subject keys."""
    title = record["title"]
    author = record["author"]
    authors = record.get("authors") or ()
    subjects = record.get("subjects") or ()
    isbn = record.get("isbn")
    publisher = record.get("publisher")
    year = record.get("published_year")
    title_words = words(title)
    author_words = [_words(name) for name in authors]
    # The words of the parts joined are the words of the whole (folding and splitting go
    # character by character, and a space separates the parts either way; empty parts are left
    # out): the names, subjects, publisher and series, which recur, come from the cache.
    subtitle, series = record.get("subtitle"), record.get("series")
    description = record.get("description")
    search = [
        words(subtitle) if subtitle else "",
        _words(series) if series else "",
        *author_words,
        *[_words(subject) for subject in subjects if subject],
        _words(publisher) if publisher else "",
        words(description) if description else "",
    ]
    if isbn:
        search += [_isbn_words(isbn), _isbn_words(to_isbn10(isbn) or "")]
    normalised = title_words + "\x1f" + "\x1e".join(author_words if authors else [_words(author)])
    columns = {
        "title_key": title_words[:TITLE_MAX],
        "author_key": _words(author)[:AUTHOR_MAX],
        "publisher_key": _fold(publisher)[:TEXT_MAX] if publisher else None,
        "year_sort": NO_YEAR if year is None else year,
        "duplicate_key": _sha256(normalised.encode()).hexdigest(),
        "search_text": " ".join(part for part in search if part),
    }
    names = {_fold(name)[:AUTHOR_MAX] for name in authors if name}
    if author:
        names.add(_fold(author)[:AUTHOR_MAX])
    return Keys(columns, names, {_fold(subject)[:SUBJECT_MAX] for subject in subjects})


def _isbn_words(value: str) -> str:
    """``words(value)``; an ISBN's digits (and X) in lower case, without the general path."""
    return value.lower() if value.isascii() and value.isalnum() else words(value)
