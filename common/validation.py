"""Pydantic validation shared by domain code and the HTTP edge, with no Flask: a rule's
statement in the JSON schema (:func:`stated`), validation errors as the field list every 422
carries (:func:`field_errors`), and the base of query-string and header models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, JsonValue, ValidationError

# At least one character that is not white space: what "must not be empty" means for text that
# is trimmed before it is checked.
NOT_BLANK = r"\S"


def stated(**keywords: JsonValue) -> Any:
    """``Annotated`` metadata that makes a type's JSON schema also say ``keywords``
    (``Annotated[str, line(500), stated(pattern=NOT_BLANK)]``): for rules a validator checks
    in code, so the document says them too. Validation is unchanged, so a keyword must only
    ever refuse what the validator refuses."""
    return Field(json_schema_extra=keywords)


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as ``{"field", "message", "type"}``; the rejected input is never echoed
    (it may be a password)."""
    items = []
    for item in error.errors(include_url=False, include_input=False):
        loc = [str(part) for part in item["loc"] if part != "__root__"]
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "is not a field that can be sent here (misspelt, or read-only)"
        items.append({"field": ".".join(loc) or "body", "message": message, "type": item["type"]})
    return items


_REQUEST_SCHEMAS: dict[type[BaseModel], dict[str, Any]] = {}


class RequestModel(BaseModel):
    """Base of the query-string and header models. flask-openapi3 asks such a model for its
    JSON schema on every request (to see which fields are lists), which costs more than
    reading a whole page of books (about 2.5 ms); the argument-less schema, the one it asks
    for, never changes, so it is computed once per model."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:  # the OpenAPI document's form: rarely asked, left as it is
            return super().model_json_schema(*args, **kwargs)
        if cls not in _REQUEST_SCHEMAS:
            _REQUEST_SCHEMAS[cls] = super().model_json_schema()
        return _REQUEST_SCHEMAS[cls]
