"""Estante's own formats: CSV, JSON (an array) and JSON Lines, every field of a book, lossless.

Lists (authors, subjects) are joined with "; " in CSV, or written as a JSON array when a name
holds a ";" itself. The CSV neutralises cells that spreadsheets would run as formulas; reading
undoes it. Reading takes the editable fields; ``id`` becomes the record's source id (importing
an export twice adds nothing), and the other read-only members (version, dates, users) are
left out: the importing catalog keeps its own.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from books_service.records import EDITABLE_FIELDS
from books_service.transfer import csvfile
from books_service.transfer.files import text_stream
from books_service.transfer.rows import (
    FileProblem,
    Row,
    compact,
    decimal,
    neutralise,
    text,
    whole_number,
)

# The columns of GET /books's books, in their order (isbn_10 follows isbn).
CSV_COLUMNS = [
    "id",
    *(
        name
        for field in EDITABLE_FIELDS
        for name in ((field, "isbn_10") if field == "isbn" else (field,))
    ),
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
]
READ_ONLY = frozenset(CSV_COLUMNS) - set(EDITABLE_FIELDS) | {"deleted_at", "deleted_by", "_reason"}
INTEGERS = ("published_year", "page_count", "copies")
DECIMALS = ("series_index",)
LISTS = ("authors", "subjects")
MAX_OBJECT_BYTES = 1024 * 1024
_LIST_JOINER = "; "


# --- CSV -------------------------------------------------------------------------------------


def list_cell(values: list[str]) -> str:
    if any(";" in v or v.startswith("[") for v in values):
        return json.dumps(values, ensure_ascii=False)
    return _LIST_JOINER.join(values)


def parse_list(value: str | None) -> list[str]:
    value = text(value)
    if value is None:
        return []
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(v, str) for v in parsed):
            return parsed
    return [item.strip() for item in value.split(";") if item.strip()]


def number_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and math.isfinite(value) else repr(value)
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, bool | int | float):
        return neutralise(number_cell(value))
    return neutralise(str(value))


def csv_row(book: dict[str, Any]) -> list[str]:
    return [
        neutralise(list_cell(book.get(name) or [])) if name in LISTS else _cell(book.get(name))
        for name in CSV_COLUMNS
    ]


def map_csv(cell: Callable[[str], str | None]) -> tuple[dict[str, Any], str | None]:
    fields: dict[str, Any] = {}
    for name in EDITABLE_FIELDS:
        raw = cell(name)
        if name in LISTS:
            fields[name] = parse_list(raw)
        elif name in INTEGERS:
            fields[name] = whole_number(name, raw)
        elif name in DECIMALS:
            fields[name] = decimal(name, raw)
        else:
            fields[name] = text(raw) if name != "description" else (raw or None)
    return compact(fields), text(cell("id"))


def read_csv(stream: BinaryIO, encoding: str, mapping: Any = None) -> Iterator[Row]:
    return csvfile.read(stream, encoding, map_csv, undo_formulas=True)


def write_csv(books: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    return csvfile.write(CSV_COLUMNS, (csv_row(book) for book in books))


# --- JSON and JSON Lines ----------------------------------------------------------------------


def map_object(value: Any) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """(fields, source id, error) of one JSON value."""
    if not isinstance(value, dict):
        return None, None, "not a JSON object"
    # What an export adds (read-only) and a rejects file's reason are left out; any other
    # member goes to the rules, which refuse it, as the API does.
    fields = {k: v for k, v in value.items() if k not in READ_ONLY and v is not None}
    source = value.get("id")
    source_id = str(source) if isinstance(source, int | str) and source != "" else None
    return fields, source_id, None


def _row(number: int, raw: str) -> Row:
    row = Row(number, raw.encode())
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as error:
        row.error = f"not valid JSON: {error}"
        return row
    row.fields, row.source_id, row.error = map_object(value)
    return row


def read_jsonl(stream: BinaryIO, encoding: str, mapping: Any = None) -> Iterator[Row]:
    number = 0
    for line in text_stream(stream, encoding):
        if not line.strip():
            continue
        number += 1
        if len(line) > MAX_OBJECT_BYTES:
            raise FileProblem(f"Line {number} is longer than {MAX_OBJECT_BYTES // 1024} KiB.")
        yield _row(number, line.strip().lstrip("\ufeff"))


def objects(chunks: Iterator[str]) -> Iterator[str]:
    """The raw text of each element of a JSON array read piece by piece (constant memory)."""
    decoder = json.JSONDecoder()
    buffer = ""
    position = 0
    started = False
    exhausted = False

    def more() -> bool:
        nonlocal buffer, position, exhausted
        chunk = next(chunks, None)
        if chunk is None:
            exhausted = True
            return False
        buffer = buffer[position:] + chunk
        position = 0
        return True

    while True:
        while position < len(buffer) and buffer[position] in " \t\r\n\ufeff,":
            if buffer[position] == "," and not started:
                raise FileProblem("The file is not a JSON array of books.")
            position += 1
        if position >= len(buffer):
            if exhausted or not more():
                raise FileProblem("The JSON array is not closed (a truncated file?).")
            continue
        if not started:
            if buffer[position] != "[":
                raise FileProblem("The file is not a JSON array of books.")
            started = True
            position += 1
            continue
        if buffer[position] == "]":
            return
        try:
            _, end = decoder.raw_decode(buffer, position)
        except (ValueError, RecursionError):
            if not exhausted and len(buffer) - position < MAX_OBJECT_BYTES and more():
                continue
            raise FileProblem(
                "The JSON array holds something that is not valid JSON (a truncated file?)."
            ) from None
        if end == len(buffer) and not exhausted and more():
            continue  # a number may go on in the next piece
        yield buffer[position:end]
        position = end


def read_json(stream: BinaryIO, encoding: str, mapping: Any = None) -> Iterator[Row]:
    text_file = text_stream(stream, encoding)
    chunks = iter(lambda: text_file.read(256 * 1024), "")
    for number, raw in enumerate(objects(chunks), start=1):
        yield _row(number, raw)


def write_jsonl(books: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    lines: list[str] = []
    for book in books:
        lines.append(json.dumps(book, ensure_ascii=False))
        if len(lines) >= 500:
            yield ("\n".join(lines) + "\n").encode()
            lines = []
    if lines:
        yield ("\n".join(lines) + "\n").encode()


def write_json(books: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """One object per line inside the array: readable, and streamable by line-based tools."""
    yield b"["
    first = True
    lines: list[str] = []
    for book in books:
        lines.append(("\n" if first else ",\n") + json.dumps(book, ensure_ascii=False))
        first = False
        if len(lines) >= 500:
            yield "".join(lines).encode()
            lines = []
    yield ("".join(lines) + "\n]\n").encode()


def json_rejects(rejected: Iterable[tuple[bytes, str]], *, lines: bool) -> Iterator[bytes]:
    """The rejected objects with a ``_reason`` member (a value that was no object is kept as it
    was, inside an object's ``_value``)."""

    def with_reason(original: bytes, reason: str) -> str:
        try:
            value = json.loads(original)
        except ValueError:
            value = {"_value": original.decode(errors="replace")}
        if not isinstance(value, dict):
            value = {"_value": value}
        return json.dumps({**value, "_reason": reason}, ensure_ascii=False)

    if lines:
        for original, reason in rejected:
            yield (with_reason(original, reason) + "\n").encode()
        return
    yield b"["
    first = True
    for original, reason in rejected:
        yield (("\n" if first else ",\n") + with_reason(original, reason)).encode()
        first = False
    yield b"\n]\n"
