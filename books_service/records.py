"""A book record's rules that are not about HTTP or SQL: the author/authors pair, the folded
keys stored beside each record for sorting, duplicates and search, and what changed between two
versions of a record."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from books_service.isbn import to_isbn10
from books_service.models import AUTHOR_MAX, NO_YEAR, SUBJECT_MAX, TEXT_MAX, TITLE_MAX
from common.text import fold as fold_accents_and_case

# The fields a client writes (all but title and author are optional), in the order they are
# shown and recorded in the history.
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
LIST_FIELDS = frozenset({"authors", "subjects"})
_EDITABLE = frozenset(EDITABLE_FIELDS)
_NOTHING: dict[str, Any] = dict.fromkeys(EDITABLE_FIELDS)  # every field, in their order
DEFAULTS: dict[str, Any] = {"authors": [], "subjects": [], "copies": 1}

# "Neil Gaiman & Terry Pratchett", "A; B": separators that do not occur inside one name
# (commas do: "Assis, Machado de").
_AUTHOR_SEPARATORS = re.compile(r"\s*;\s*|\s+&\s+")
AUTHORS_JOINER = "; "
# Letters that Unicode does not decompose into a base letter and an accent (U+0131 is the
# dotless i).
_LETTERS = str.maketrans(
    {"ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "æ": "ae"}
    | {"Æ": "ae", "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th", "\u0131": "i", "ħ": "h", "Ħ": "h"}
)
# Whether a text has any of them: one scan, where str.translate looks every character up.
_HAS_LETTERS = re.compile("[" + "".join(map(chr, _LETTERS)) + "]")
_NOT_WORD = re.compile(r"[\W_]+")
# What words() does to ASCII text in one bytes.translate (a table of 256 bytes: many times
# cheaper than str.translate's dictionary): every ASCII character that is not a letter or a
# digit (what [\W_] matches among them) becomes a space, and letters become lower case.
_ASCII_WORDS = bytes(ord(c.lower()) if c.isalnum() else 32 for c in map(chr, range(128)))
_ASCII_WORDS += bytes(range(128, 256))


def fold(value: str) -> str:
    """The form text is compared, sorted and searched in: accents removed, case folded, white
    space collapsed ("São  Paulo", "sao paulo" and "SÃO PAULO" fold alike; "Søren" to "soren")."""
    # _LETTERS has no ASCII letter: ASCII text (most of a catalog) skips that pass, and so
    # does text without any of them.
    if value.isascii() or _HAS_LETTERS.search(value) is None:
        return fold_accents_and_case(value)
    return fold_accents_and_case(value.translate(_LETTERS))


def words(value: str) -> str:
    """Folded, with punctuation dropped: what two titles must share to be "the same".
    Text that is ASCII once folded (most names and titles of a catalog, accents and all) takes
    a shortcut at C speed instead of the pattern: its punctuation and spaces turned to spaces,
    the words joined by one space (an import folds each row's texts several times)."""
    if value.isascii():
        return b" ".join(value.encode().translate(_ASCII_WORDS).split()).decode()
    folded = fold(value)  # case folded: lower case already
    if folded.isascii():
        return b" ".join(folded.encode().translate(_ASCII_WORDS).split()).decode()
    return " ".join(_NOT_WORD.split(folded)).strip()


def split_authors(author: str) -> list[str]:
    names = [name.strip() for name in _AUTHOR_SEPARATORS.split(author) if name.strip()]
    return names or [author]


def join_authors(authors: Iterable[str]) -> str:
    """The display string for a list of names; "First et al." when they do not fit."""
    names = list(authors)
    joined = AUTHORS_JOINER.join(names)
    if len(joined) <= AUTHOR_MAX:
        return joined
    return f"{names[0][: AUTHOR_MAX - 7]} et al."


def complete(fields: dict[str, Any]) -> dict[str, Any]:
    """A full record: every editable field present, ``author`` derived from ``authors`` or the
    other way round when only one is given, defaults for the rest."""
    if fields.keys() <= _EDITABLE:  # nothing to leave out: the given values over all None
        record = {**_NOTHING, **fields}
    else:
        record = {name: fields.get(name) for name in EDITABLE_FIELDS}
    for name, default in DEFAULTS.items():
        if record[name] is None:
            record[name] = default
    if record["authors"] and not record["author"]:
        record["author"] = join_authors(record["authors"])
    elif record["author"] and not record["authors"]:
        record["authors"] = split_authors(record["author"])
    return record


def author_keys(record: Mapping[str, Any]) -> set[str]:
    """Every name the ``author`` filter finds the book by: each author, and the display string."""
    names = [*record.get("authors", ()), record["author"]]
    return {fold(name)[:AUTHOR_MAX] for name in names if name}


def subject_keys(record: Mapping[str, Any]) -> set[str]:
    return {fold(subject)[:SUBJECT_MAX] for subject in record.get("subjects") or ()}


def duplicate_key(title: str, authors: Iterable[str]) -> str:
    """Two books are "the same" when their titles and author lists match after folding and
    dropping punctuation. The list's order counts: the first author is the one a catalog files
    a book under (MARC's main entry), so "A; B" and "B; A" are told apart. Stored as a hash:
    short, fixed-size, indexable. (Changing it needs a migration that recomputes the column.)"""
    normalised = words(title) + "\x1f" + "\x1e".join(words(a) for a in authors)
    return hashlib.sha256(normalised.encode()).hexdigest()


def derived_keys(record: Mapping[str, Any]) -> dict[str, Any]:
    """The derived columns of a complete record (recomputed on every write)."""
    isbn = record.get("isbn")
    searchable = [
        record.get("subtitle"),
        record.get("series"),
        *record.get("authors", ()),
        *(record.get("subjects") or ()),
        record.get("publisher"),
        record.get("description"),
        isbn,
        to_isbn10(isbn) if isbn else None,
    ]
    year = record.get("published_year")
    return {
        # Words only (folded, punctuation dropped): what both search engines index, so they
        # split text alike; sorting by title or author then ignores punctuation too.
        "title_key": words(record["title"])[:TITLE_MAX],
        "author_key": words(record["author"])[:AUTHOR_MAX],
        "publisher_key": fold(record["publisher"])[:TEXT_MAX] if record.get("publisher") else None,
        "year_sort": NO_YEAR if year is None else year,
        "duplicate_key": duplicate_key(
            record["title"], record.get("authors") or [record["author"]]
        ),
        "search_text": words(" ".join(part for part in searchable if part)),
    }


# The columns derived_keys fills.
DERIVED_FIELDS = (
    "title_key",
    "author_key",
    "publisher_key",
    "year_sort",
    "duplicate_key",
    "search_text",
)


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"from": old, "to": new}}`` for every editable field that differs."""
    return {
        name: {"from": before.get(name), "to": after.get(name)}
        for name in EDITABLE_FIELDS
        if before.get(name) != after.get(name)
    }


def initial_values(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A new record's history entry: every field it was given, from nothing."""
    return {
        name: {"from": None, "to": record[name]}
        for name in EDITABLE_FIELDS
        if record.get(name) not in (None, [])
    }
