"""The book fields as command-line options, shared by ``books add`` and ``books edit``: one
list of options, turned into the JSON members the Books Service takes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from estante_cli.errors import CliError
from estante_cli.options import with_options

PANEL = "Book fields"


def _option(kind: Any, help_text: str, *names: str) -> Any:
    return Annotated[kind, typer.Option(*names, help=help_text, rich_help_panel=PANEL)]


# (parameter, JSON member, annotation): in the order --help lists them.
FIELDS: list[tuple[str, str, Any]] = [
    ("title", "title", _option(str | None, "Title.")),
    ("subtitle", "subtitle", _option(str | None, "Subtitle.")),
    (
        "author",
        "authors",
        _option(list[str] | None, "An author; repeat it for several, in order.", "--author"),
    ),
    ("isbn", "isbn", _option(str | None, "ISBN-10 or ISBN-13, with or without hyphens.")),
    ("publisher", "publisher", _option(str | None, "Publisher.")),
    ("year", "published_year", _option(int | None, "Year of publication.")),
    ("date", "published_date", _option(str | None, "Published: YYYY, YYYY-MM or YYYY-MM-DD.")),
    ("language", "language", _option(str | None, "ISO 639 language code (pt, por, en...).")),
    ("pages", "page_count", _option(int | None, "Number of pages.")),
    (
        "subject",
        "subjects",
        _option(list[str] | None, "A subject; repeat it for several.", "--subject"),
    ),
    ("description", "description", _option(str | None, "Description or summary.")),
    ("cover_url", "cover_url", _option(str | None, "http(s) URL of the cover image.")),
    ("series", "series", _option(str | None, "Series name.")),
    ("series_index", "series_index", _option(float | None, "Number in the series.")),
    ("copies", "copies", _option(int | None, "How many copies you have.")),
]
MEMBERS = {parameter: member for parameter, member, _ in FIELDS}
with_book_fields = with_options([(parameter, kind) for parameter, _, kind in FIELDS])


def from_options(fields: dict[str, Any]) -> dict[str, Any]:
    """The JSON members of the options that were given (repeatable ones as lists)."""
    return {MEMBERS[name]: value for name, value in fields.items() if value not in (None, [])}


def read_json_file(path: Path) -> dict[str, Any]:
    """A book as a JSON object, from a file or ``-`` (standard input)."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text") from None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise CliError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise CliError(f"{path}: must hold one JSON object (a book), not {type(document).__name__}")
    return document


FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="A JSON object of book fields (as the API takes them); '-' reads standard input. "
        "Options given as well override its values.",
        rich_help_panel=PANEL,
    ),
]
