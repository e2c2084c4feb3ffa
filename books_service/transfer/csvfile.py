"""The machinery every CSV-like format shares: the delimiter, the header, one record per row
(blank lines skipped, quoted newlines kept), limits on columns and cells, and the rejects file
(the original header and rows plus a ``reason`` column)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any, BinaryIO, cast

from books_service.transfer.files import text_stream
from books_service.transfer.rows import CellError, FileProblem, Row, unneutralise

MAX_COLUMNS = 1000
MAX_CELL = 128 * 1024
REASON = "reason"
csv.field_size_limit(MAX_CELL)

# (cell by column name) -> (book fields, source id)
Mapper = Callable[[Callable[[str], str | None]], tuple[dict[str, Any], str | None]]
# (the cells of the columns a format names, in its order; None for one the file lacks) ->
# (book fields, source id)
CellsMapper = Callable[[Sequence[str | None]], tuple[dict[str, Any], str | None]]


def sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def first_line(head: str) -> str:
    return head.lstrip("\ufeff\r\n").split("\n", 1)[0]


def header_of(head: str) -> list[str]:
    """The header row of a CSV file's first text (names trimmed, BOM dropped)."""
    line = first_line(head)
    try:
        names = next(csv.reader(io.StringIO(line), delimiter=sniff_delimiter(line)), [])
    except csv.Error:
        return []
    return [name.strip() for name in names]


def records(text: Iterable[str], delimiter: str) -> Iterator[list[str]]:
    try:
        for record in csv.reader(text, delimiter=delimiter):
            # A cell with anything but white space (the cells joined: one call at C speed),
            # nearly always the first.
            if record and (record[0].strip() or "".join(record).strip()):
                yield record
    except csv.Error as error:
        if "field larger" in str(error):
            raise FileProblem(
                f"A cell is larger than {MAX_CELL // 1024} KiB: this is not a catalog file "
                "(or a quote is never closed)."
            ) from None
        raise FileProblem(f"The file is not valid CSV: {error}.") from None


def check_head(head: str) -> list[str]:
    """Check the first part of a file (refusing it before any job exists); returns its header."""
    if not head.strip():
        raise FileProblem("The file is empty.")
    delimiter = sniff_delimiter(first_line(head))
    rows = records(io.StringIO(head.lstrip("\ufeff"), newline=""), delimiter)
    header = [name.strip() for name in next(rows, [])]
    if len(header) > MAX_COLUMNS:
        raise FileProblem(f"The file has {len(header):,} columns; at most {MAX_COLUMNS:,}.")
    for _ in rows:  # cells over the limit anywhere in the first part
        pass
    return header


def read(stream: BinaryIO, encoding: str, mapper: Mapper, *, undo_formulas: bool) -> Iterator[Row]:
    """The file's rows, each mapped by ``mapper`` from a function that gives a column's cell."""

    def mapped(index: dict[str, int]) -> Callable[[list[str]], tuple[Any, str | None]]:
        def map_record(cells: list[str]) -> tuple[Any, str | None]:
            def cell(name: str) -> str | None:
                i = index.get(name)
                return cells[i] if i is not None else None

            return mapper(cell)

        return map_record

    return _read(stream, encoding, mapped, undo_formulas)


def read_columns(
    stream: BinaryIO,
    encoding: str,
    columns: Sequence[str],
    mapper: CellsMapper,
    *,
    undo_formulas: bool,
) -> Iterator[Row]:
    """The file's rows, each mapped by ``mapper`` from the cells of ``columns`` in that order:
    what :func:`read` gives a mapper that asks for those columns' cells, without a lookup by
    name for every cell of every row (the columns' places are found once, from the header)."""

    def mapped(index: dict[str, int]) -> Callable[[list[str]], tuple[Any, str | None]]:
        places = [index.get(name) for name in columns]
        if None in places or len(places) < 2:
            return lambda cells: mapper([cells[i] if i is not None else None for i in places])
        pick = itemgetter(*cast(list[int], places))
        return lambda cells: mapper(pick(cells))

    return _read(stream, encoding, mapped, undo_formulas)


def _read(
    stream: BinaryIO,
    encoding: str,
    mapped: Callable[[dict[str, int]], Callable[[list[str]], tuple[Any, str | None]]],
    undo_formulas: bool,
) -> Iterator[Row]:
    text = text_stream(stream, encoding)
    first = text.readline()
    delimiter = sniff_delimiter(first.lstrip("\ufeff"))
    rows = records(chain([first.lstrip("\ufeff")], text), delimiter)
    try:
        header = [name.strip() for name in next(rows)]
    except StopIteration:
        return
    if len(header) > MAX_COLUMNS:
        raise FileProblem(f"The file has {len(header):,} columns; at most {MAX_COLUMNS:,}.")
    map_record = mapped({name: i for i, name in reversed(list(enumerate(header)))})
    width = len(header)
    number = 0
    try:
        for record in rows:
            number += 1
            row = Row(number, record)
            if len(record) != width:
                row.error = (
                    f"the row has {len(record)} cells where the header has {width} "
                    "(a truncated line, or a stray delimiter?)"
                )
                yield row
                continue
            try:
                row.fields, row.source_id = map_record(
                    [unneutralise(cell) for cell in record] if undo_formulas else record
                )
            except CellError as error:
                row.error = str(error)
            yield row
    except UnicodeDecodeError as error:
        raise FileProblem(
            f"Row {number + 1} is not valid {encoding} ({error.reason}): give the file's "
            "encoding, or save it as UTF-8."
        ) from None


def rejects(
    header: list[str], rejected: Iterable[tuple[bytes, str]], delimiter: str = ","
) -> Iterator[bytes]:
    """The rejects file: the header plus ``reason``, then each rejected row with its reason (a
    file that was itself a rejects file keeps one reason column, with the new reasons)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    again = bool(header) and header[-1] == REASON
    writer.writerow(header if again else [*header, REASON])
    for original, reason in rejected:
        cells = json.loads(original)
        if again and len(cells) == len(header):
            cells = cells[:-1]
        writer.writerow([*cells, reason])
        if out.tell() > 64 * 1024:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def write(
    columns: list[str], rows: Iterable[list[Any]], *, bom: bool = False, quote_all: bool = False
) -> Iterator[bytes]:
    """A CSV file, every cell already text, in pieces of about 64 KiB."""
    out = io.StringIO()
    if quote_all:
        writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    else:
        writer = csv.writer(out, lineterminator="\r\n")
    if bom:
        out.write("\ufeff")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(row)
        if out.tell() > 64 * 1024:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()
