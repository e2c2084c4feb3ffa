"""Pydantic validation shared by domain code and the HTTP edge, with no Flask: a rule's
statement in the JSON schema (:func:`stated`), and validation errors as the field list every
422 carries (:func:`field_errors`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationError

# At least one character that is not white space: what "must not be empty" means for text that
# is trimmed before it is checked.
NOT_BLANK = r"\S"


def stated(type_: object, **keywords: Any) -> Any:
    """``type_`` whose JSON schema also says ``keywords`` (``pattern=NOT_BLANK``): for rules a
    validator checks in code, so the document says them too. Validation is unchanged, so a
    keyword must only ever refuse what the validator refuses."""
    return Annotated[type_, Field(json_schema_extra=keywords)]


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as ``{"field", "message", "type"}``; the rejected input is never echoed
    (it may be a password)."""
    items = []
    for item in error.errors(include_url=False, include_input=False):
        loc = [str(part) for part in item["loc"] if part != "__root__"]
        message = item["msg"].removeprefix("Value error, ")
        items.append({"field": ".".join(loc) or "body", "message": message, "type": item["type"]})
    return items
