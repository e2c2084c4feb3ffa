"""What every page's view uses: the two API clients, the user and their roles, calls with
the user's token (refreshed and retried once on a 401), and htmx requests."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import httpx
from flask import current_app, redirect, request, url_for
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response as BaseResponse

from web_service.api_client import ApiClient, ApiProblem
from web_service.sessions import SessionEnded, current_user, get_sessions

F = TypeVar("F", bound=Callable[..., Any])
WRITERS = ("librarian", "admin")


def books_api() -> ApiClient:
    return current_app.extensions["estante.web.books"]


def auth_api() -> ApiClient:
    return current_app.extensions["estante.web.auth"]


def is_htmx() -> bool:
    """An htmx request for a part of the page (not a history restore, which wants it all)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to after logging in: never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def login_redirect() -> BaseResponse:
    return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))


def require_user(*roles: str) -> Callable[[F], F]:
    """The view needs a logged-in user (anonymous: to the login page), with one of ``roles``
    when given (others: 403)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return login_redirect()
            if roles and not user.has_role(*roles):
                raise Forbidden()
            return view(*args, **kwargs)

        # functools.wraps keeps the view's signature, which mypy cannot see through F.
        return wrapper  # type: ignore[return-value]

    return decorate


def with_token(api: ApiClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A call with the user's access token; a 401 gets one refresh and one retry (the token
    may have been revoked early, or the clocks differ). SessionEnded when that fails too."""
    sessions = get_sessions()
    token = sessions.access_token()
    try:
        return api.request(method, path, token=token, **kwargs)
    except ApiProblem as problem:
        # A wrong current password (changing it) is a 401 about the password, not the token.
        if problem.status != 401 or problem.type.endswith("/invalid-credentials"):
            raise
    token = sessions.refresh(token).access_token
    try:
        return api.request(method, path, token=token, **kwargs)
    except ApiProblem as problem:
        if problem.status == 401:
            sessions.forget()
            raise SessionEnded() from None
        raise


def page_params(limit: int, name: str = "cursor") -> dict[str, Any]:
    """The API's page parameters: ``limit``, and the cursor the URL carries (under ``name``)
    when it looks like one (the APIs' cursors are URL-safe base64)."""
    params: dict[str, Any] = {"limit": limit}
    cursor = request.args.get(name, "")
    if cursor and len(cursor) < 2000 and cursor.replace("-", "").replace("_", "").isalnum():
        params["cursor"] = cursor
    return params
