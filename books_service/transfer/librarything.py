"""LibraryThing's export (tab-separated, import only; often Windows-1252).

Dates and ISBNs come in brackets (``[2007-04-16]``, ``[0441172717]``); ``ISBNs`` is a list;
``Publication`` reads like ``Ace (1990), Paperback, 544 pages``; languages are names
("English"). Reviews, ratings, comments, reading dates, call numbers, barcodes and
collections are the owner's, or have no field in Estante, and are left out."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, BinaryIO

from books_service.transfer import csvfile
from books_service.transfer.rows import Row, compact, first_isbn, split_list, text, whole_number

SIGNATURE = {"Book Id", "Title", "Primary Author"}
_BRACKETS = re.compile(r"^\[(.*)\]$")
_YEAR = re.compile(r"(?<![0-9])([0-9]{4})(?![0-9])")
_DATE = re.compile(r"^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?$")


def unbracket(value: str | None) -> str | None:
    value = text(value)
    if value is None:
        return None
    match = _BRACKETS.match(value)
    return text(match[1]) if match else value


@lru_cache(maxsize=512)
def language_code(name: str) -> str | None:
    """ "English" → "en" (a code as given is kept for the record's own check).

    pycountry's lookup by any name is imported here, in an import of a LibraryThing file only:
    its table is 5.8 MB that no worker otherwise needs (:mod:`common.languages`)."""
    import pycountry

    try:
        language = pycountry.languages.lookup(name.strip())
    except LookupError:
        return name.strip() if len(name.strip()) in (2, 3) else None
    return getattr(language, "alpha_2", None) or language.alpha_3


def publisher_of(publication: str | None) -> str | None:
    """``Ace (1990), Paperback, 544 pages`` → ``Ace``."""
    publication = text(publication)
    if publication is None:
        return None
    return text(re.split(r"\s*\(|,", publication, maxsplit=1)[0])


def map_row(cell: Callable[[str], str | None]) -> tuple[dict[str, Any], str | None]:
    authors = [a for a in [text(cell("Primary Author"))] if a]
    authors += split_list(cell("Secondary Author"), "|;")
    date = unbracket(cell("Date"))
    published_date = date if date and _DATE.match(date) else None
    year_match = _YEAR.search(date or "") if not published_date else None
    isbns = [unbracket(cell("ISBN")), *split_list(unbracket(cell("ISBNs")), ",; ")]
    languages = split_list(cell("Languages"), ",;|")
    subjects = split_list(cell("Subjects"), "|;") or split_list(cell("Tags"), ",")
    fields = {
        "title": text(cell("Title")),
        "authors": list(dict.fromkeys(authors)),
        "isbn": first_isbn(isbns) or isbns[0],
        "publisher": publisher_of(cell("Publication")),
        "published_date": published_date,
        "published_year": int(year_match[1]) if year_match else None,
        "page_count": whole_number("Page Count", unbracket(cell("Page Count"))),
        "language": language_code(languages[0]) if languages else None,
        "subjects": list(dict.fromkeys(subjects)),
        "copies": whole_number("Copies", cell("Copies")),
    }
    return compact(fields), text(cell("Book Id"))


def read(stream: BinaryIO, encoding: str, mapping: Any = None) -> Iterator[Row]:
    return csvfile.read(stream, encoding, map_row, undo_formulas=False)
