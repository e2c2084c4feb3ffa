"""The one place imports check a row: :func:`books_service.book_rules.validate_book`, the rules
of ``POST /books``, so a row the API would refuse is rejected with the same reasons."""

from __future__ import annotations

from typing import Any

from books_service import book_rules


class InvalidRow(ValueError):
    pass


def validate_book(fields: dict[str, Any]) -> dict[str, Any]:
    """A complete, valid record from a row's fields, or InvalidRow saying what is wrong."""
    try:
        return book_rules.validate_book(fields)
    except book_rules.ValidationError as error:
        raise InvalidRow("; ".join(f"{e['field']}: {e['message']}" for e in error.errors)) from None
