"""Domain errors with their HTTP meaning.

Service code raises these without knowing about Flask; :mod:`common.problem_json` renders them.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A domain error with its HTTP meaning; raised by service code, rendered by the app."""

    status: int = 400
    type: str = "about:blank"
    title: str | None = None

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class Conflict(ApiError):
    status = 409


class NotFound(ApiError):
    status = 404


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class ServiceUnavailable(ApiError):
    status = 503
