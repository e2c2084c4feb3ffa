"""One error format everywhere: ``application/problem+json`` (RFC 9457).

Every error a client can see goes through :func:`problem`, so the shape never drifts: ``type``,
``title``, ``status``, ``detail`` and, for invalid input, ``errors`` listing each field.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, json
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from common.errors import ApiError
from common.validation import field_errors

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("estante.errors")


def problem(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", "Bearer")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def validation_problem(error: ValidationError) -> Response:
    return invalid_fields(field_errors(error))


def invalid_fields(errors: list[dict[str, str]]) -> Response:
    """The 422 of a request with invalid fields, each ``{"field", "message", "type"}``."""
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(
        422,
        f"The request has invalid fields: {summary}",
        title="Invalid request",
        type_="/problems/validation-error",
        errors=errors,
    )


def register_error_handlers(app: Flask) -> None:
    # The APIs' handlers, SQLAlchemy's errors among them: imported here, so that the web
    # service (which uses problem() for its health checks) never loads SQLAlchemy.
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return problem(
            error.status,
            error.detail,
            title=error.title,
            type_=error.type,
            headers=error.headers,
            **error.extra,
        )

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> ResponseReturnValue:
        if error.response is not None:  # abort(response): already rendered, e.g. a 422
            return error.response
        status = error.code or 500
        headers = {}
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        detail = error.description
        if status == 429:
            detail = f"Too many requests (the limit is {detail}); wait and try again."
        return problem(status, detail, headers=headers)

    @app.errorhandler(ValidationError)
    def handle_validation_error(error: ValidationError) -> Response:
        return validation_problem(error)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(DisconnectionError)
    @app.errorhandler(PoolTimeoutError)
    def handle_database_unavailable(error: Exception) -> Response:
        # The database is down or unreachable (refused, lost, timed out): a temporary condition,
        # said as such. The pool reconnects by itself once it is back (its checkout's check).
        log.warning("database unavailable", extra={"fields": {"error": type(error).__name__}})
        return problem(
            503,
            "The database is unavailable right now; try again shortly.",
            type_="/problems/database-unavailable",
            headers={"Retry-After": "5"},
        )

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        # The trace goes to the log, never to the client.
        log.exception("unhandled error", exc_info=error)
        return problem(500, "An unexpected error occurred; it has been logged.")
