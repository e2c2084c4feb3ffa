"""Every format Estante reads or writes, how each is recognised from a file's first bytes, and
the checks that refuse a file before a job is made for it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from books_service.transfer import (
    calibre,
    csvfile,
    estante,
    files,
    generic,
    goodreads,
    librarything,
    marc,
    storygraph,
)
from books_service.transfer.rows import FileProblem, Row

Reader = Callable[[BinaryIO, str, Any], Iterator[Row]]
Writer = Callable[[Iterable[dict[str, Any]]], Iterator[bytes]]
Family = Literal["csv", "json", "jsonl", "marc", "marcxml"]


@dataclass(frozen=True)
class Format:
    name: str
    family: Family
    read: Reader
    # The book_sources namespace of the ids this format's records carry.
    source: str | None
    write: Writer | None = None
    media_type: str = "text/csv; charset=utf-8"
    extension: str = "csv"
    signature: frozenset[str] = frozenset()
    delimiter: str = ","


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "estante-csv",
            "csv",
            estante.read_csv,
            "estante",
            estante.write_csv,
            signature=frozenset({"title", "author", "authors"}),
        ),
        Format(
            "estante-json",
            "json",
            estante.read_json,
            "estante",
            estante.write_json,
            "application/json",
            "json",
        ),
        Format(
            "estante-jsonl",
            "jsonl",
            estante.read_jsonl,
            "estante",
            estante.write_jsonl,
            "application/x-ndjson",
            "jsonl",
        ),
        Format(
            "goodreads",
            "csv",
            goodreads.read,
            "goodreads",
            signature=frozenset(goodreads.SIGNATURE),
        ),
        Format(
            "librarything",
            "csv",
            librarything.read,
            "librarything",
            signature=frozenset(librarything.SIGNATURE),
            delimiter="\t",
        ),
        Format(
            "storygraph",
            "csv",
            storygraph.read,
            "storygraph",
            signature=frozenset(storygraph.SIGNATURE),
        ),
        Format(
            "calibre",
            "csv",
            calibre.read,
            "calibre",
            calibre.write,
            signature=frozenset(calibre.SIGNATURE),
        ),
        Format(
            "marc", "marc", marc.read_binary, "marc", marc.write_binary, "application/marc", "mrc"
        ),
        Format(
            "marcxml",
            "marcxml",
            marc.read_xml,
            "marc",
            marc.write_xml,
            "application/marcxml+xml",
            "xml",
        ),
        Format("csv", "csv", generic.read, "csv"),
    )
}
IMPORT_FORMATS = tuple(FORMATS)
EXPORT_FORMATS = tuple(name for name, f in FORMATS.items() if f.write is not None)
# Checked in this order: the most specific headers first.
_CSV_DETECTION = ("goodreads", "librarything", "storygraph", "calibre", "estante-csv")
HEAD_BYTES = 4 * 1024 * 1024


@dataclass
class Inspection:
    """What the first part of a file says: its format, encoding, header and mapping."""

    format: str
    encoding: str
    header: list[str] | None = None
    mapping: dict[str, str] | None = None


def _csv_format(header: list[str]) -> str | None:
    names = set(header)
    for name in _CSV_DETECTION:
        if FORMATS[name].signature <= names:
            return name
    lowered = {n.lower() for n in names}
    if FORMATS["estante-csv"].signature <= lowered:
        return "csv"
    return None


def detect(head: bytes, text_head: str | None) -> str:
    """The format of a file from its first bytes (FileProblem if it is none we know)."""
    if marc.looks_binary_marc(head):
        return "marc"
    if text_head is None:
        raise FileProblem("This is not a text file, nor MARC records.")
    start = text_head.lstrip("\ufeff \t\r\n")
    if start.startswith("<"):
        if "MARC21" in start[:4096] or "<record" in start[:4096] or "<collection" in start[:4096]:
            return "marcxml"
        raise FileProblem("This XML file is not MARCXML.")
    if start.startswith("["):
        return "estante-json"
    if start.startswith("{"):
        return "estante-jsonl"
    found = _csv_format(csvfile.header_of(text_head))
    if found is None:
        raise FileProblem(
            "The file's format was not recognised from its header. For a spreadsheet of your "
            "own, give format=csv and a mapping of its columns to Estante's fields."
        )
    return found


def inspect(
    head: bytes,
    *,
    format_name: str | None = None,
    encoding: str | None = None,
    mapping: Mapping[str, str] | None = None,
    complete: bool = False,
) -> Inspection:
    """Check a file's first ``HEAD_BYTES`` (all of it when ``complete``): refused with
    FileProblem when its encoding, format or structure is wrong, before any job is made."""
    if not head.strip():
        raise FileProblem("The file is empty.")
    if format_name == "auto":
        format_name = None
    if format_name is not None and format_name not in FORMATS:
        raise FileProblem(f"Unknown format {format_name!r}; one of {', '.join(FORMATS)}.")
    if format_name == "marc" or (format_name is None and marc.looks_binary_marc(head)):
        if not marc.looks_binary_marc(head):
            raise FileProblem("The file is not binary MARC (ISO 2709) records.")
        return Inspection("marc", "marc")
    chosen = files.check_encoding(encoding) if encoding else files.detect_encoding(head)
    text_head = files.decode_head(head if complete else head[:HEAD_BYTES], chosen)
    if format_name == "marcxml" or (
        format_name is None and text_head.lstrip("\ufeff \r\n\t").startswith("<")
    ):
        marc.check_xml_head(head, complete=complete)
        return Inspection("marcxml", chosen)
    if format_name is None and not text_head.lstrip("\ufeff \t\r\n").startswith(("[", "{")):
        csvfile.check_head(text_head)  # too many columns, a huge cell: refused before guessing
    found = format_name or detect(head, text_head)
    if mapping and found != "csv":
        raise FileProblem("A mapping is only for format csv (a spreadsheet of your own).")
    family = FORMATS[found].family
    if family in ("json", "jsonl"):
        _check_json_head(text_head, family)
        return Inspection(found, chosen)
    header = csvfile.check_head(text_head)
    if found == "csv":
        return Inspection(found, chosen, header, generic.check_mapping(mapping, header))
    if found == "estante-csv":
        unknown = [c for c in header if c not in estante.CSV_COLUMNS and c != csvfile.REASON]
        if unknown:
            raise FileProblem(
                f"Columns Estante's CSV does not have: {', '.join(unknown[:10])}. For a "
                "spreadsheet of your own, give format=csv and a mapping of its columns."
            )
    missing = FORMATS[found].signature - set(header)
    if missing:
        raise FileProblem(
            f"The file is not a {found} file: its header lacks {', '.join(sorted(missing))}."
        )
    return Inspection(found, chosen, header)


def _check_json_head(text_head: str, family: str) -> None:
    start = text_head.lstrip("\ufeff \t\r\n")
    if family == "json" and not start.startswith("["):
        raise FileProblem("The file is not a JSON array (estante-json starts with '[').")
    if family == "jsonl":
        first = start.split("\n", 1)[0]
        try:
            value = json.loads(first)
        except ValueError:
            raise FileProblem("The first line is not a JSON object (estante-jsonl).") from None
        if not isinstance(value, dict):
            raise FileProblem("The first line is not a JSON object (estante-jsonl).")


def rejects(
    format_name: str, header: list[str] | None, rejected: Iterable[tuple[bytes, str]]
) -> Iterator[bytes]:
    """The rejects file of an import in this format: importable again as it is."""
    spec = FORMATS[format_name]
    if spec.family == "csv":
        return csvfile.rejects(header or [], rejected, spec.delimiter)
    if spec.family in ("json", "jsonl"):
        return estante.json_rejects(rejected, lines=spec.family == "jsonl")
    if spec.family == "marc":
        return marc.binary_rejects(rejected)
    return marc.xml_rejects(rejected)


def rejects_media(format_name: str) -> tuple[str, str]:
    spec = FORMATS[format_name]
    if spec.family == "csv":
        delimiter_tsv = spec.delimiter == "\t"
        return (
            ("text/tab-separated-values; charset=utf-8", "tsv")
            if delimiter_tsv
            else ("text/csv; charset=utf-8", "csv")
        )
    return spec.media_type, spec.extension


def count(spec: Format, stream: BinaryIO, encoding: str, heartbeat: Callable[..., None]) -> int:
    """How many rows (records) a stored file holds, read once cheaply before the import; the
    whole file's structure and encoding are checked on the way (FileProblem), so a file that
    fails does so before any batch is written. ``heartbeat`` keeps the lease meanwhile."""
    every = 200_000
    n = 0
    if spec.family == "marc":
        tail = b""
        for chunk in files.iter_bytes(stream):
            n += chunk.count(marc.RECORD_END)
            tail = chunk
        return n + (1 if tail.rstrip(b"\x1a\r\n ").rsplit(marc.RECORD_END, 1)[-1] else 0)
    if spec.family == "marcxml":
        for n, _row in enumerate(marc.read_xml(stream), start=1):
            if n % every == 0:
                heartbeat()
        return n
    if spec.family == "json":
        text_file = files.text_stream(stream, encoding)
        try:
            for n, _raw in enumerate(
                estante.objects(iter(lambda: text_file.read(256 * 1024), "")), 1
            ):
                if n % every == 0:
                    heartbeat()
        except UnicodeDecodeError as error:
            raise FileProblem(f"The file is not valid {encoding}: {error.reason}.") from None
        return n
    text_file = files.text_stream(stream, encoding)
    try:
        if spec.family == "jsonl":
            for line in text_file:
                if line.strip():
                    n += 1
                    if len(line) > estante.MAX_OBJECT_BYTES:
                        raise FileProblem(f"Line {n} is longer than 1 MiB.")
            return n
        first = text_file.readline().lstrip("\ufeff")
        delimiter = csvfile.sniff_delimiter(first)
        for n, _record in enumerate(csvfile.records(_chain(first, text_file), delimiter)):
            if n and n % every == 0:
                heartbeat()
        return n
    except UnicodeDecodeError as error:
        raise FileProblem(
            f"The file is not valid {encoding} ({error.reason}): give its encoding, or save it "
            "as UTF-8."
        ) from None


def _chain(first: str, rest: Iterable[str]) -> Iterator[str]:
    yield first
    yield from rest
