"""The one place imports check a row: the same rules as ``POST /books``, so a row the API would
refuse is rejected with the same reasons."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from books_service.schemas import BookFields
from common.problem_json import field_errors


class InvalidRow(ValueError):
    pass


def validate_book(fields: dict[str, Any]) -> dict[str, Any]:
    """A complete, valid record from a row's fields, or InvalidRow saying what is wrong."""
    try:
        return BookFields.model_validate(fields).record()
    except ValidationError as error:
        raise InvalidRow(
            "; ".join(f"{e['field']}: {e['message']}" for e in field_errors(error))
        ) from None
