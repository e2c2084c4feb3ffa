"""Query strings hold one value per parameter: a parameter of a view's query model given more
than once (``?limit=5&limit=x``) is refused with a 422 naming it.

flask-openapi3 gives a query model the first value of each parameter that is not a list and
drops the others, so ``?limit=&limit=junk`` would be served as if no limit had been asked for
(an empty value means "not given"): a value the client sent, silently ignored. No query model
of the APIs takes a list; a field that did would be left alone here.

The check runs before the view's other hooks (the token's included), as the body size limit
does: it is about the request's shape, not about who sends it."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from pydantic import BaseModel

from common.problem_json import invalid_fields

REPEATED = "is given more than once: give it once"


def single_valued(view: Callable[..., Any]) -> frozenset[str]:
    """The names of the query parameters ``view`` takes one value of: its query model's fields
    (by alias) whose schema is not an array. Empty for a view without a query model."""
    try:
        model = typing.get_type_hints(inspect.unwrap(view)).get("query")
    except (NameError, TypeError):  # a view whose hints do not resolve declares no query model
        return frozenset()
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return frozenset()
    properties = model.model_json_schema().get("properties", {})
    names = set()
    for name, field in model.model_fields.items():
        key = field.alias or name
        schema = properties.get(key, {})
        alternatives = [schema, *schema.get("anyOf", [])]
        if not any(option.get("type") == "array" for option in alternatives):
            names.add(key)
    return frozenset(names)


def init_single_values(app: Flask) -> None:
    """Refuse, before any other hook, a parameter of the view's query model given twice."""
    known: dict[str, frozenset[str]] = {}

    @app.before_request
    def refuse_repeated_parameters() -> Response | None:
        endpoint = request.endpoint
        if not request.query_string or endpoint is None:
            return None
        names = known.get(endpoint)
        if names is None:
            view = app.view_functions.get(endpoint)
            names = known[endpoint] = single_valued(view) if view else frozenset()
        repeated = sorted(
            key for key, values in request.args.lists() if len(values) > 1 and key in names
        )
        if not repeated:
            return None
        return invalid_fields(
            [{"field": key, "message": REPEATED, "type": "repeated_parameter"} for key in repeated]
        )
