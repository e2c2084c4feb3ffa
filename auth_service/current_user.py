"""Who is calling the Auth Service: the access token, checked against the database.

The issuer sees revocations at once, so a token whose session was revoked, whose user was
disabled or deleted, or that was issued before its user's "not before" (role change, logout
everywhere, promotion) stops working here immediately. The Books Service learns of them from
the published revocation list, within seconds (see :mod:`auth_service.revocations`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request

from auth_service import revocations
from auth_service.models import User
from common.db import get_db
from common.errors import Forbidden, Unauthorized

F = TypeVar("F", bound=Callable[..., object])


def requires_user(view: F) -> F:
    """Mark a view that needs a valid access token of an active user."""
    view.estante_requires = "user"  # type: ignore[attr-defined]  # a mark on the function
    return view


def requires_admin(view: F) -> F:
    """Mark a view that needs an active user who holds the admin role now."""
    view.estante_requires = "admin"  # type: ignore[attr-defined]  # a mark on the function
    return view


class TokenRevoked(Unauthorized):
    type = "/problems/unauthorized"
    title = "Unauthorized"

    def __init__(self) -> None:
        super().__init__(
            "The token has been revoked: its session ended, or its user was disabled, "
            "deleted or changed since it was issued.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


class AdminRequired(Forbidden):
    type = "/problems/forbidden"
    title = "Forbidden"

    def __init__(self) -> None:
        super().__init__("This needs the admin role.")


def authenticated_user() -> User:
    verify_jwt_in_request()
    with get_db().read() as session:
        user = revocations.live_user(session, get_jwt())
    if user is None:
        raise TokenRevoked()
    g.user_id = user.id
    g.current_user = user
    return user


def current_user() -> User:
    """The caller of a view marked with ``requires_user`` or ``requires_admin``."""
    return g.current_user


def current_session_id() -> str | None:
    sid = get_jwt().get("sid")
    return sid if isinstance(sid, str) else None


def require_admin() -> User:
    """The caller, who must hold the admin role now (the database, not the token, decides)."""
    user = authenticated_user()
    if user.role != "admin":
        raise AdminRequired()
    return user


def authenticate_marked_views() -> None:
    """``before_request`` hook, registered before the JSON body check: who you are (401/403)
    is settled before what you sent (415/400/422)."""
    if request.routing_exception is not None:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    requirement = getattr(view, "estante_requires", None)
    if requirement == "admin":
        require_admin()
    elif requirement == "user":
        authenticated_user()
