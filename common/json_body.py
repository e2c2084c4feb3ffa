"""Checks every JSON request body before a view sees it.

Order matters and is the same in both services: a request that is not JSON gets 415, JSON that
does not parse gets 400, a body that is not an object gets 422; only then does the view's
declared schema validate the fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

from common.errors import ApiError

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
F = TypeVar("F", bound=Callable[..., object])


class BodyNotAnObject(ApiError):
    status = 422
    title = "Invalid request"
    type = "/problems/validation-error"


def no_json_body(view: F) -> F:
    """Mark a POST/PUT/PATCH view that takes no JSON body (the check then skips it)."""
    view.estante_no_json_body = True  # type: ignore[attr-defined]  # a mark on the function
    return view


def parses_own_body(view: F) -> F:
    """Mark a view that parses its JSON body itself, straight from the bytes (see
    :func:`common.app_base.lean_validation`): the check then stops after the media type and the
    size, and the view calls :func:`require_json_object` whenever its own parse fails, so that
    a bad body gets the same 400 or 422 as from this check, before anything else is validated."""
    view.estante_parses_own_body = True  # type: ignore[attr-defined]  # a mark on the function
    return view


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def require_json_body() -> None:
    """``before_request`` hook: reject bodies that are not a JSON object."""
    if request.method not in BODY_METHODS or request.routing_exception is not None:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "estante_no_json_body", False):
        return
    if not _is_json(request.mimetype):
        raise UnsupportedMediaType(
            "Send the body as JSON with the header 'Content-Type: application/json'."
        )
    raw = request.get_data(cache=True)  # 413 here when Content-Length is over the limit
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # A chunked body has no length up front; Werkzeug stops reading at the limit.
        raise RequestEntityTooLarge()
    if not getattr(view, "estante_parses_own_body", False):
        require_json_object()


def require_json_object() -> None:
    """The body parses as JSON (400 otherwise) and is an object (422 otherwise)."""
    try:
        data = request.get_json()
    except BadRequest:
        raise BadRequest("The request body is not valid JSON.") from None
    except RecursionError:
        raise BadRequest("The request body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise BodyNotAnObject(
            "The request body must be a JSON object.",
            errors=[{"field": "body", "message": "must be a JSON object", "type": "dict_type"}],
        )
