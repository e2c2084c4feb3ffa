"""Calibre's catalog CSV (import and export): UTF-8 with a BOM, every value quoted, authors
joined by `` & ``, tags by ``, ``, comments in HTML, identifiers like ``isbn:9780…,goodreads:1``.

Calibre has no subtitle (written as ``Title: Subtitle``), no number of copies, and its dates
are whole timestamps (a year alone is written as 1 January; read back, 1 January is a year).
Cover paths, formats, sizes, ratings and the library name are the Calibre library's own."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any, BinaryIO

from books_service.transfer import csvfile
from books_service.transfer.estante import number_cell
from books_service.transfer.rows import (
    Row,
    compact,
    decimal,
    first_isbn,
    neutralise,
    split_list,
    text,
)
from common.languages import bibliographic_code

COLUMNS = [
    "title",
    "title_sort",
    "author_sort",
    "authors",
    "comments",
    "cover",
    "formats",
    "id",
    "isbn",
    "library_name",
    "pubdate",
    "publisher",
    "rating",
    "series_index",
    "series",
    "size",
    "tags",
    "timestamp",
    "uuid",
    "languages",
    "identifiers",
]
SIGNATURE = {"title", "title_sort", "author_sort", "authors"}
_PUBDATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})")
UNDEFINED_YEAR = 101  # Calibre's "no date": 0101-01-01
_NAMESPACE = uuid.UUID("6f0d4b5e-8a38-4f7c-9a51-2f4d3c8b7e10")
_BLOCKS = frozenset({"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"})


class _PlainText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def plain_text(comments: str | None) -> str | None:
    """Calibre's HTML comments as plain text: paragraphs apart, line breaks kept, tags and
    scripts gone, entities decoded."""
    comments = text(comments)
    if comments is None:
        return None
    if "<" not in comments:
        return comments
    parser = _PlainText()
    parser.feed(comments)
    parser.close()
    joined = "".join(parser.parts)
    lines = [line.strip(" ") for line in joined.split("\n")]
    return text(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)))


def comments_html(description: str | None) -> str:
    if not description:
        return ""
    paragraphs = [p for p in description.split("\n\n") if p.strip()]
    return "".join(
        "<p>" + "<br>".join(html.escape(line, quote=False) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


@lru_cache(maxsize=512)
def alpha3(code: str) -> str:
    return bibliographic_code(code) or code


def _published(pubdate: str | None) -> dict[str, Any]:
    match = _PUBDATE.match(text(pubdate) or "")
    if not match or int(match[1]) <= UNDEFINED_YEAR:
        return {}
    if match[2] == "01" and match[3] == "01":
        return {"published_year": int(match[1])}
    return {"published_date": match[0]}


def map_row(cell: Callable[[str], str | None]) -> tuple[dict[str, Any], str | None]:
    identifiers = dict(
        item.split(":", 1) for item in split_list(cell("identifiers"), ",") if ":" in item
    )
    languages = split_list(cell("languages"), ",")
    fields = {
        "title": text(cell("title")),
        "authors": list(dict.fromkeys(split_list(cell("authors"), "&"))),
        "isbn": first_isbn([text(cell("isbn")), identifiers.get("isbn")])
        or text(cell("isbn"))
        or identifiers.get("isbn"),
        "publisher": text(cell("publisher")),
        "description": plain_text(cell("comments")),
        "series": text(cell("series")),
        "subjects": list(dict.fromkeys(split_list(cell("tags"), ","))),
        "language": languages[0] if languages else None,
        **_published(cell("pubdate")),
    }
    if fields["series"]:
        fields["series_index"] = decimal("series_index", cell("series_index"))
    return compact(fields), text(cell("uuid"))


def read(stream: BinaryIO, encoding: str, mapping: Any = None) -> Iterator[Row]:
    return csvfile.read(stream, encoding, map_row, undo_formulas=True)


def _pubdate(book: dict[str, Any]) -> str:
    if book.get("published_date"):
        parts = ([*book["published_date"].split("-"), "01", "01"])[:3]
        return "-".join(parts) + "T00:00:00+00:00"
    if book.get("published_year") is not None and 0 <= book["published_year"] <= 9999:
        return f"{book['published_year']:04d}-01-01T00:00:00+00:00"
    return ""


def row(book: dict[str, Any]) -> list[str]:
    title = book["title"] + (f": {book['subtitle']}" if book.get("subtitle") else "")
    isbn = book.get("isbn") or ""
    values = {
        "title": title,
        "title_sort": title,
        "author_sort": book["author"],
        "authors": " & ".join(book["authors"]),
        "comments": comments_html(book.get("description")),
        "id": str(book["id"]),
        "isbn": isbn,
        "library_name": "Estante",
        "pubdate": _pubdate(book),
        "publisher": book.get("publisher") or "",
        "series_index": number_cell(book.get("series_index") if book.get("series") else 1.0),
        "series": book.get("series") or "",
        "tags": ", ".join(book.get("subjects") or []),
        "timestamp": book["created_at"].replace("Z", "+00:00"),
        "uuid": str(uuid.uuid5(_NAMESPACE, f"estante-book-{book['id']}")),
        "languages": alpha3(book["language"]) if book.get("language") else "",
        "identifiers": f"isbn:{isbn}" if isbn else "",
    }
    return [neutralise(values.get(name, "")) for name in COLUMNS]


def write(books: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    return csvfile.write(COLUMNS, (row(book) for book in books), bom=True, quote_all=True)
