"""Text that is safe to store: valid Unicode, no control characters where they make no sense.

JSON can carry a lone surrogate (``"\\ud800"``) or a NUL; neither survives UTF-8 encoding or a
PostgreSQL text column, so they are refused at the edge with a 422 instead of failing later.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError


def encodable(value: str) -> str:
    """Refuse strings that cannot be stored as UTF-8 (lone surrogates) or contain NUL."""
    if "\x00" in value or any(unicodedata.category(ch) == "Cs" for ch in value):
        raise PydanticCustomError("invalid_text", "contains characters that are not valid text")
    return value


def single_line(value: str) -> str:
    """NFC-normalise and trim one line of text; control characters are refused."""
    value = unicodedata.normalize("NFC", encodable(value)).strip()
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise PydanticCustomError("invalid_text", "must not contain control characters")
    return value


def _too_long(max_length: int) -> PydanticCustomError:
    return PydanticCustomError(
        "string_too_long", "must be at most {max_length} characters", {"max_length": max_length}
    )


def paragraphs(max_length: int) -> object:
    """Free text (a description): new lines and tabs allowed, other control characters not."""

    def check(value: str) -> str:
        value = unicodedata.normalize("NFC", encodable(value)).strip()
        if any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in value):
            raise PydanticCustomError("invalid_text", "must not contain control characters")
        if len(value) > max_length:
            raise _too_long(max_length)
        return value

    return Annotated[str, Field(max_length=max_length * 4), AfterValidator(check)]


def fold(value: str) -> str:
    """The form text is compared and searched in: accents removed, case folded, white space
    collapsed ("São  Paulo" and "sao paulo" fold alike)."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def line(max_length: int) -> object:
    """A required single line of 1..max_length characters, after trimming."""

    def check(value: str) -> str:
        value = single_line(value)
        if not value:
            raise PydanticCustomError("string_too_short", "must not be empty")
        if len(value) > max_length:
            raise _too_long(max_length)
        return value

    # The plain bound rejects absurd input before any normalising work.
    return Annotated[str, Field(max_length=max_length * 4), AfterValidator(check)]


EncodableStr = Annotated[str, AfterValidator(encodable)]
