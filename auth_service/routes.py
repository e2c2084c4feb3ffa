"""HTTP endpoints for accounts and sessions: parse, call the domain modules, respond."""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, abort, current_app, jsonify, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ValidationError

from auth_service import accounts, login, sessions, throttle
from auth_service.current_user import (
    TokenRevoked,
    authenticate_marked_views,
    current_session_id,
    current_user,
    requires_user,
)
from auth_service.passwords import Hasher
from auth_service.refresh_route import OUTCOME, REFRESH_PATH
from auth_service.schemas import (
    ChangePasswordRequest,
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
    UserOut,
)
from auth_service.tokens import sign_access_token, token_response
from common.app_base import BEARER
from common.db import get_db
from common.json_body import no_json_body, require_json_body
from common.openapi import problem_response, problems

accounts_tag = Tag(name="accounts", description="Register, log in, refresh, log out")
bearer = BEARER
api = APIBlueprint("auth", __name__, abp_tags=[accounts_tag])
# The original implementation served register and login under /auth.
legacy_api = APIBlueprint("auth_legacy", __name__, url_prefix="/auth", abp_tags=[accounts_tag])
for blueprint in (api, legacy_api):
    blueprint.before_request(authenticate_marked_views)
    blueprint.before_request(require_json_body)


@dataclass(frozen=True)
class Policies:
    session: sessions.SessionPolicy
    throttle: throttle.ThrottlePolicy


def get_hasher() -> Hasher:
    return current_app.extensions["estante.hasher"]


def get_policies() -> Policies:
    return current_app.extensions["estante.policies"]


def client_address() -> str:
    return request.remote_addr or "unknown"


def register(body: RegisterRequest) -> tuple[Response, int]:
    """Create an account; answers with an access token and a refresh token.

    A username that mixes scripts that look alike (Latin with Cyrillic or Greek; Unicode
    TR39, Moderately Restrictive) is refused with 422. One that is taken, or that reads like
    an existing account's name (the same TR39 confusable skeleton), is refused with 409."""
    issued = login.register(
        get_db(),
        get_hasher(),
        body.username,
        body.password,
        client_address(),
        get_policies().session,
        sign=sign_access_token,
    )
    return jsonify(token_response(issued).model_dump()), 201


def log_in(body: LoginRequest) -> Response:
    """Exchange a username and password for an access token and a refresh token."""
    policies = get_policies()
    issued = login.log_in(
        get_db(),
        get_hasher(),
        body.username,
        body.password,
        client_address(),
        session_policy=policies.session,
        throttle_policy=policies.throttle,
        sign=sign_access_token,
    )
    return jsonify(token_response(issued).model_dump())


NAME_CONFLICT = problem_response(
    409,
    "Conflict: the username is taken (/problems/username-taken) or reads like an existing "
    "account's (/problems/username-lookalike)",
)
for blueprint, deprecated in ((api, False), (legacy_api, True)):
    blueprint.post(
        "/register",
        responses={201: TokenResponse, 409: NAME_CONFLICT, **problems(429)},
        deprecated=deprecated,
    )(register)
    blueprint.post(
        "/login",
        responses={200: TokenResponse, **problems(401, 403, 429)},
        deprecated=deprecated,
        endpoint="login",
    )(log_in)


def body_checked_here(view: Callable[..., Response]) -> Callable[..., Response]:
    """For the refresh, the busiest endpoint after the reads: its body model validated here,
    straight from the JSON that ``require_json_body`` already parsed and found to be an
    object, with the 422 flask-openapi3 would give (its ``validation_error_callback``), instead
    of by flask-openapi3's generic per-request validation. The OpenAPI document is still made
    from the view's own signature (``functools.wraps``). Only for views with a body alone."""
    hints = typing.get_type_hints(view)
    assert set(hints) - {"return"} == {"body"}, "body_checked_here: a body and nothing else"
    model: type[BaseModel] = hints["body"]

    @functools.wraps(view)
    def checked() -> Response:
        try:
            body = model.model_validate(request.get_json(silent=True))
        except ValidationError as error:
            # flask-openapi3's app has it; current_app is typed as Flask's.
            abort(current_app.validation_error_callback(error))  # type: ignore[attr-defined]
        return view(body)

    # flask-openapi3 then calls the view as it is and validates nothing itself.
    checked.__delay_validate_request__ = True  # type: ignore[attr-defined]
    return checked


@api.post(REFRESH_PATH, responses={200: TokenResponse, **problems(401, 429)})
@body_checked_here
def refresh(body: RefreshRequest) -> Response:
    """Exchange a refresh token for a new access token and a new refresh token (rotation)."""
    # Served in front of Flask when it can be (auth_service.refresh_route); a rotation that
    # failed there is answered here, from its exception, without rotating again.
    failed = request.environ.pop(OUTCOME, None)
    if failed is not None:
        raise failed
    issued = sessions.rotate(
        get_db(), body.refresh_token, get_policies().session, sign=sign_access_token
    )
    return jsonify(token_response(issued).model_dump())


@api.post("/logout", responses={204: None})
def logout(body: RefreshRequest) -> Response:
    """End the session the refresh token belongs to (its access tokens stop validating)."""
    with get_db().transaction() as session:
        sessions.end_session_of(session, body.refresh_token, "logout")
    # The same answer whether or not the token was known: nothing to learn from it.
    return Response(status=204)


@api.post("/logout-all", responses={204: None}, security=bearer)
@requires_user
@no_json_body
def logout_all() -> Response:
    """End every session of the calling user, on every device."""
    user = current_user()
    with get_db().transaction() as session:
        sessions.revoke_user_sessions(session, user.id, "logout-all")
    return Response(status=204)


@api.get("/me", responses={200: UserOut}, security=bearer)
@requires_user
def me() -> Response:
    """The calling user."""
    user = current_user()
    return jsonify(UserOut(id=user.id, username=user.username, roles=user.roles).model_dump())


@api.post("/me/password", responses={204: None, **problems(401, 429)}, security=bearer)
@requires_user
def change_password(body: ChangePasswordRequest) -> Response:
    """Change your password (the current one is required); your other sessions end. Wrong
    current passwords are throttled like failed logins (429 with Retry-After)."""
    user = current_user()
    try:
        login.change_password(
            get_db(),
            get_hasher(),
            user.username,
            user.id,
            body.current_password,
            body.new_password,
            client_address(),
            keep_session=current_session_id(),
            throttle_policy=get_policies().throttle,
        )
    except (accounts.UserNotFound, accounts.AccountDisabled):
        # Deleted or disabled since the token was checked: it is revoked now, as a moment
        # later it would have been found to be.
        raise TokenRevoked() from None
    return Response(status=204)
