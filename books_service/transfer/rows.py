"""What every format reader yields, and the small conversions the readers share: cells of text
to the types a book's fields take, lists, ISBNs wrapped as spreadsheet formulas, and the
neutralising of spreadsheet formulas that our CSV exports apply and our imports undo."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from books_service.isbn import InvalidIsbn, normalise

# A cell that a spreadsheet would run as a formula (OWASP's list); exports prefix it with "'".
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FIRST_OF_RISKY = frozenset("=+-@\t\r'")
_NEUTRALISED = re.compile(r"'+[=+\-@\t\r]")
_FORMULA_WRAPPED = re.compile(r'^="(.*)"$', re.DOTALL)
_NUMBER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


# An ISBN is normalised when its row is mapped, and again when the row is checked with the API's
# rules, a batch later at most (pipeline.batches): the answers are remembered for longer than a
# batch. Only valid ISBNs are (an exception is never cached): an invalid one raises again.
normalise_isbn = lru_cache(maxsize=8192)(normalise)


class FileProblem(Exception):
    """The file as a whole cannot be read in this format (refused, or the job fails)."""


@dataclass
class Row:
    """One record of a file: its number (1-based, header not counted), the record as it was in
    the file (kept for the rejects file), and the book fields it maps to, or why it cannot."""

    number: int
    # The record as read: bytes, or a CSV record's cells, encoded only if the row is rejected.
    raw: bytes | list[str]
    fields: dict[str, Any] | None = None
    error: str | None = None
    source_id: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def original(self) -> bytes:
        """The record as it was in the file, for the rejects file (a CSV record as the JSON
        array of its cells)."""
        raw = self.raw
        return raw if isinstance(raw, bytes) else json.dumps(raw, ensure_ascii=False).encode()


def neutralise(value: str) -> str:
    """A CSV cell safe to open in a spreadsheet: one more "'" before a formula's first
    character, and before "'"s that already precede one (so the import can undo it exactly)."""
    if (
        value
        and value[0] in _FIRST_OF_RISKY
        and (value.startswith(_FORMULA_START) or _NEUTRALISED.match(value))
    ):
        return "'" + value
    return value


def unneutralise(value: str) -> str:
    return value[1:] if _NEUTRALISED.match(value) else value


def text(value: str | None) -> str | None:
    """A cell's text, or None when empty (blank cells are absent fields)."""
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def unwrap_formula(value: str | None) -> str | None:
    """Goodreads' ``="0441172717"`` (an ISBN kept as text by spreadsheets), ``=""`` empty."""
    value = text(value)
    if value is None:
        return None
    if value.startswith('="') and value.endswith('"') and len(value) > 2:
        return text(value[2:-1])  # what _FORMULA_WRAPPED takes (a text has no final newline)
    match = _FORMULA_WRAPPED.match(value)
    return text(match[1]) if match else value


class CellError(ValueError):
    pass


def whole_number(name: str, value: str | None) -> int | None:
    value = text(value)
    if value is None:
        return None
    if value.isascii() and value.isdigit():
        return int(value)
    value = value.replace(",", "") if re.fullmatch(r"[0-9]{1,3}(,[0-9]{3})+", value) else value
    if not _NUMBER.fullmatch(value):
        raise CellError(f"{name}: {value[:40]!r} is not a whole number")
    return int(value)


def decimal(name: str, value: str | None) -> float | None:
    value = text(value)
    if value is None:
        return None
    if not _DECIMAL.fullmatch(value):
        raise CellError(f"{name}: {value[:40]!r} is not a number")
    return float(value)


def split_list(value: str | None, separators: str) -> list[str]:
    """``"a, b,c"`` → ``["a", "b", "c"]`` (empty items dropped)."""
    value = text(value)
    if value is None:
        return []
    items = value.split(separators) if len(separators) == 1 else _splitter(separators).split(value)
    return [item.strip() for item in items if item.strip()]


@lru_cache(maxsize=16)
def _splitter(separators: str) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(s) for s in separators))


def first_isbn(candidates: Iterable[str | None]) -> str | None:
    """The first candidate that is a valid ISBN, normalised to ISBN-13 (None if none is)."""
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return normalise_isbn(candidate)
        except InvalidIsbn:
            continue
    return None


def is_isbn(value: str | None) -> bool:
    return first_isbn([value]) is not None


_EMPTY: tuple[Any, ...] = (None, [], "")  # one tuple, not one (and a new list) for every value


def compact(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields without the empty ones (None, empty lists): absent, as in a JSON request."""
    return {k: v for k, v in fields.items() if v not in _EMPTY}
