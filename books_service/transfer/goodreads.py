"""Goodreads' library export (CSV, import only).

ISBNs come wrapped as spreadsheet formulas (``="0441172717"``, an empty one ``=""``); the series
sits in the title (``Dune (Dune Chronicles, #1)``); the main author is in ``Author``, the others
comma-separated in ``Additional Authors``. Reading data (ratings, dates read, shelves' positions,
reviews, notes) is the reader's, not the catalog's, and is left out."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from books_service.transfer import csvfile
from books_service.transfer.rows import (
    Row,
    compact,
    first_isbn,
    split_list,
    text,
    unwrap_formula,
    whole_number,
)

SIGNATURE = {"Book Id", "Title", "Author", "Exclusive Shelf"}
# Shelves every Goodreads reader has: where they are in their reading, not what a book is about.
READING_SHELVES = frozenset({"read", "to-read", "currently-reading"})
# "Title (Series, #2)", "Title (Series #2.5)"; a title's own parenthesis without "#" stays.
_SERIES = re.compile(
    r"^(?P<title>.*?\S)\s*\((?P<series>[^()#]*?),?\s*#(?P<index>[0-9]+(?:\.[0-9]+)?)\)\s*$"
)


def split_series(title: str) -> tuple[str, str | None, float | None]:
    match = _SERIES.match(title)
    if not match or not match["series"].strip():
        return title, None, None
    return match["title"], match["series"].strip(), float(match["index"])


def map_row(cell: Callable[[str], str | None]) -> tuple[dict[str, Any], str | None]:
    title, series, index = split_series(text(cell("Title")) or "")
    authors = [a for a in [text(cell("Author"))] if a]
    authors += split_list(cell("Additional Authors"), ",")
    year = whole_number("Year Published", cell("Year Published"))
    if year is None:
        year = whole_number("Original Publication Year", cell("Original Publication Year"))
    pages = whole_number("Number of Pages", cell("Number of Pages"))
    copies = whole_number("Owned Copies", cell("Owned Copies"))
    isbn13, isbn10 = unwrap_formula(cell("ISBN13")), unwrap_formula(cell("ISBN"))
    shelves = [s for s in split_list(cell("Bookshelves"), ",") if s not in READING_SHELVES]
    fields = {
        "title": title or None,
        "authors": list(dict.fromkeys(authors)),
        "isbn": first_isbn([isbn13, isbn10]) or isbn13 or isbn10,
        "publisher": text(cell("Publisher")),
        "published_year": year,
        "page_count": pages or None,  # Goodreads writes 0 for unknown
        "series": series,
        "series_index": index,
        "subjects": shelves,
        "copies": copies,
    }
    return compact(fields), text(cell("Book Id"))


def read(stream: BinaryIO, encoding: str, mapping: Any = None) -> Iterator[Row]:
    return csvfile.read(stream, encoding, map_row, undo_formulas=False)
