"""The book form: the API's record as form fields and back, the API's field errors placed on
the form's fields, and an edit conflict laid out field by field. No Flask here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The form's fields, in the order the form shows them, with how each is written.
TEXT, LINES, LONG_TEXT, INTEGER, NUMBER = "text", "lines", "long", "integer", "number"
FIELDS: tuple[tuple[str, str], ...] = (
    ("title", TEXT),
    ("subtitle", TEXT),
    ("authors", LINES),
    ("isbn", TEXT),
    ("publisher", TEXT),
    ("published_year", INTEGER),
    ("published_date", TEXT),
    ("language", TEXT),
    ("page_count", INTEGER),
    ("subjects", LINES),
    ("series", TEXT),
    ("series_index", NUMBER),
    ("copies", INTEGER),
    ("cover_url", TEXT),
    ("description", LONG_TEXT),
)
FIELD_NAMES = tuple(name for name, _ in FIELDS)
KINDS = dict(FIELDS)
# The API's names for what the form calls otherwise: "author" is the authors' display string.
API_TO_FORM = {"author": "authors"}


def form_values(form: Mapping[str, str]) -> dict[str, str]:
    """The form as typed (to show it again exactly so)."""
    return {name: str(form.get(name, "")) for name in FIELD_NAMES}


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def _number(text: str, kind: str) -> int | float | str:
    """A number as the API wants it; anything else is sent as typed, so that the API's own
    check names the field (one place decides what is valid)."""
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    try:
        if kind == INTEGER:
            return int(cleaned) if cleaned.lstrip("-").isascii() else cleaned
        value = float(cleaned.replace(",", "."))  # "1,5" as Portuguese writes it
    except ValueError:
        return text
    return int(value) if value.is_integer() else value


def record_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The JSON record for POST/PUT: an empty field is left out (cleared, on a PUT)."""
    record: dict[str, Any] = {}
    for name, kind in FIELDS:
        text = str(form.get(name, ""))
        if not text.strip():
            continue
        if kind == LINES:
            record[name] = _lines(text)
        elif kind in (INTEGER, NUMBER):
            record[name] = _number(text, kind)
        elif kind == LONG_TEXT:
            record[name] = text.strip()
        else:
            record[name] = " ".join(text.split())
    return record


def form_from_book(book: Mapping[str, Any]) -> dict[str, str]:
    """A stored book as the form shows it."""
    values = {}
    for name, kind in FIELDS:
        value = book.get(name)
        if value is None:
            values[name] = ""
        elif kind == LINES:
            values[name] = "\n".join(str(v) for v in value)
        elif isinstance(value, float) and value.is_integer():
            values[name] = str(int(value))
        else:
            values[name] = str(value)
    return values


def errors_by_field(errors: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    """The API's ``errors[]`` by form field; what names no field goes under ``""``."""
    by_field: dict[str, list[dict[str, str]]] = {}
    for error in errors:
        name = str(error.get("field", "")).split(".", 1)[0]
        name = API_TO_FORM.get(name, name)
        by_field.setdefault(name if name in KINDS else "", []).append(error)
    return by_field


@dataclass(frozen=True)
class FieldConflict:
    name: str
    mine: str
    theirs: str
    # Whose version the page proposes: theirs when only they changed the field.
    proposed: str


def conflicts(
    mine: Mapping[str, str], theirs: Mapping[str, str], original: Mapping[str, str] | None
) -> list[FieldConflict]:
    """The fields where what I would save differs from what is stored now, given what the
    form was opened with (``original``; None when unknown). A field only I changed is just my
    edit, not a conflict; a field only they changed is proposed as theirs, so saving again
    never undoes their change unseen; a field we both changed is for me to choose."""
    found = []
    for name in FIELD_NAMES:
        my_value, their_value = mine.get(name, ""), theirs.get(name, "")
        if _same(my_value, their_value):
            continue
        if original is not None and _same(their_value, original.get(name, "")):
            continue  # they left it alone: my edit stands
        only_theirs = original is not None and _same(my_value, original.get(name, ""))
        found.append(
            FieldConflict(name, my_value, their_value, "theirs" if only_theirs else "mine")
        )
    return found


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())
