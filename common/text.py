"""Text that is safe to store: valid Unicode, no control characters where they make no sense.

JSON can carry a lone surrogate (``"\\ud800"``) or a NUL; neither survives UTF-8 encoding or a
PostgreSQL text column, so they are refused at the edge with a 422 instead of failing later.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from annotated_types import GroupedMetadata
from pydantic import AfterValidator, BeforeValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

# What one line must not hold: Unicode's control characters (category Cc, exactly these code
# points), and the line and paragraph separators (U+2028, U+2029), which end a line as a new
# line does (str.splitlines, many editors and spreadsheets).
_NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def encodable(value: str) -> str:
    """Refuse strings that cannot be stored as UTF-8 (lone surrogates) or contain NUL."""
    try:
        value.encode("utf-8")  # fails on surrogates (category Cs) and on nothing else
    except UnicodeEncodeError:
        valid = False
    else:
        valid = "\x00" not in value
    if not valid:
        raise PydanticCustomError("invalid_text", "contains characters that are not valid text")
    return value


def single_line(value: str) -> str:
    """NFC-normalise and trim one line of text; control characters and line or paragraph
    separators are refused."""
    value = unicodedata.normalize("NFC", encodable(value)).strip()
    found = _NOT_ONE_LINE.search(value)
    if found is None:
        return value
    if found.group() in "\u2028\u2029":
        raise PydanticCustomError(
            "invalid_text", "must be one line (no line or paragraph separator)"
        )
    raise PydanticCustomError("invalid_text", "must not contain control characters")


def _too_long(max_length: int) -> PydanticCustomError:
    return PydanticCustomError(
        "string_too_long", "must be at most {max_length} characters", {"max_length": max_length}
    )


# Room for what normalising removes: surrounding space, and decomposed accents ("e" + U+0301,
# as macOS sends them) that NFC composes into one character.
RAW_FACTOR = 4


@dataclass(frozen=True)
class _Limit:
    """A text's length limit, counted after trimming and NFC normalisation: what the OpenAPI
    document states as ``maxLength``, and what the error says. Before any normalising work,
    input longer than ``RAW_FACTOR`` times the limit is refused (with the same message): no
    trimming or composing could bring it under."""

    max_length: int

    def refuse_absurd(self, value: Any) -> Any:
        if isinstance(value, str) and len(value) > self.max_length * RAW_FACTOR:
            raise _too_long(self.max_length)
        return value  # anything else is left to the type's own check ("a valid string")

    def check(self, value: str) -> str:
        if len(value) > self.max_length:
            raise _too_long(self.max_length)
        return value

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["maxLength"] = self.max_length
        return json_schema


@dataclass(frozen=True)
class TextRule(GroupedMetadata):
    """The checks of one kind of text, as one piece of ``Annotated`` metadata that pydantic
    unpacks: ``Annotated[str, line(500)]`` (a type checker sees a ``str``)."""

    max_length: int
    normalise: Callable[[str], str]

    def __iter__(self) -> Iterator[object]:
        limit = _Limit(self.max_length)
        normalise = self.normalise
        yield BeforeValidator(limit.refuse_absurd)
        yield AfterValidator(lambda value: limit.check(normalise(value)))
        yield limit


def _free_text(value: str) -> str:
    value = unicodedata.normalize("NFC", encodable(value)).strip()
    if _CONTROL_BUT_LINES.search(value):
        raise PydanticCustomError("invalid_text", "must not contain control characters")
    return value


def _required_line(value: str) -> str:
    value = single_line(value)
    if not value:
        raise PydanticCustomError("string_too_short", "must not be empty")
    return value


def paragraphs(max_length: int) -> TextRule:
    """Free text (a description): new lines and tabs allowed, other control characters not."""
    return TextRule(max_length, _free_text)


def line(max_length: int) -> TextRule:
    """A required single line of 1..max_length characters, after trimming."""
    return TextRule(max_length, _required_line)


def query_text(max_length: int) -> TextRule:
    """One line of a query string (a filter, a search): trimmed, up to max_length characters."""
    return TextRule(max_length, single_line)


# Every combining mark (what fold removes), for str.translate: C speed, where a test per
# character in Python made folding the slowest part of a bulk import. Unicode gives a combining
# class only to characters of its first two planes (checked against every code point by
# tests/unit/test_text.py): scanning those is 11 ms at each process's start, all of them 93.
COMBINING_PLANES_END = 0x20000
_COMBINING = dict.fromkeys(
    cp for cp in range(COMBINING_PLANES_END) if unicodedata.combining(chr(cp))
)
# Those of the Combining Diacritical Marks block (the accents of Latin letters, nearly all an
# import meets), removed by one pattern: str.translate looks each character of the text up in
# _COMBINING's dictionary (several times slower, measured). What is left goes through the
# dictionary only if it still has any character beyond ASCII.
_ACCENTS = re.compile(
    "[" + "".join(chr(cp) for cp in range(0x300, 0x370) if cp in _COMBINING) + "]+"
)


def fold(value: str) -> str:
    """The form text is compared and searched in: accents removed, case folded, white space
    collapsed ("São  Paulo" and "sao paulo" fold alike)."""
    if value.isascii():  # nothing to decompose, and casefold is lower
        return " ".join(value.lower().split())
    stripped = _ACCENTS.sub("", unicodedata.normalize("NFKD", value))
    if not stripped.isascii():
        stripped = stripped.translate(_COMBINING)
    return " ".join(stripped.casefold().split())


EncodableStr = Annotated[str, AfterValidator(encodable)]
