"""Any other CSV (comma, semicolon or tab separated), with a mapping from its columns to
Estante's fields: ``{"Titel": "title", "Verfasser": "authors", ...}``. Without a mapping,
columns named like Estante's fields (any case, spaces for underscores) are taken.

Lists (authors, subjects) are split on ";" (and on "&" for authors); ``source_id`` names the
column identifying each record in its own system."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

from books_service.records import EDITABLE_FIELDS
from books_service.transfer import csvfile
from books_service.transfer.estante import DECIMALS, INTEGERS
from books_service.transfer.rows import (
    FileProblem,
    Row,
    compact,
    decimal,
    split_list,
    text,
    whole_number,
)

TARGETS = (*EDITABLE_FIELDS, "source_id")


def default_mapping(header: list[str]) -> dict[str, str]:
    wanted = {name.replace("_", " "): name for name in TARGETS}
    return {
        column: wanted[column.strip().lower().replace("_", " ")]
        for column in header
        if column.strip().lower().replace("_", " ") in wanted
    }


def check_mapping(mapping: Mapping[str, str] | None, header: list[str]) -> dict[str, str]:
    """The mapping to use for a file with ``header`` (FileProblem when it cannot work)."""
    chosen = dict(mapping) if mapping else default_mapping(header)
    unknown = sorted({field for field in chosen.values() if field not in TARGETS})
    if unknown:
        raise FileProblem(
            f"The mapping names fields Estante does not have: {', '.join(unknown)}; "
            f"the fields are {', '.join(TARGETS)}."
        )
    missing = sorted(column for column in chosen if column not in header)
    if missing:
        raise FileProblem(
            f"The mapping names columns the file does not have: {', '.join(missing)}."
        )
    if "title" not in chosen.values():
        raise FileProblem(
            "No column maps to the title: give a mapping such as "
            '{"Book title": "title", "Writer": "author"}.'
        )
    return chosen


def mapper(mapping: Mapping[str, str]) -> csvfile.Mapper:
    by_field = {field: column for column, field in mapping.items()}

    def map_row(cell: Callable[[str], str | None]) -> tuple[dict[str, Any], str | None]:
        fields: dict[str, Any] = {}
        for field, column in by_field.items():
            raw = cell(column)
            if field == "source_id":
                continue
            if field == "authors":
                fields[field] = split_list(raw, ";&")
            elif field == "subjects":
                fields[field] = split_list(raw, ";")
            elif field in INTEGERS:
                fields[field] = whole_number(field, raw)
            elif field in DECIMALS:
                fields[field] = decimal(field, raw)
            else:
                fields[field] = text(raw)
        source = by_field.get("source_id")
        return compact(fields), text(cell(source)) if source else None

    return map_row


def read(
    stream: BinaryIO, encoding: str, mapping: Mapping[str, str] | None = None
) -> Iterator[Row]:
    if not mapping:
        raise FileProblem("A generic CSV needs its mapping (checked when the import is made).")
    return csvfile.read(stream, encoding, mapper(mapping), undo_formulas=True)
