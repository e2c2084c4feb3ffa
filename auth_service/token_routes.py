"""HTTP endpoints about tokens themselves: validation/introspection, revocation, public keys."""

from __future__ import annotations

from flask import Response, jsonify, request, url_for
from flask_openapi3 import APIBlueprint, Tag
from pydantic import ValidationError
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from auth_service import __version__, sessions
from auth_service.schemas import Introspection, Jwks, TokenRequest
from auth_service.tokens import MAX_TOKEN_LENGTH, get_keyring, introspect
from common.db import get_db
from common.json_body import BodyNotAnObject, no_json_body
from common.openapi import ServiceIndex

TOKEN_REQUEST_BODY = {
    "requestBody": {
        "description": "The token: as a form field (RFC 7662/7009) or JSON. Without a body, "
        "the request's own bearer token is used.",
        "required": False,
        "content": {
            "application/x-www-form-urlencoded": {"schema": TokenRequest.model_json_schema()},
            "application/json": {"schema": TokenRequest.model_json_schema()},
        },
    }
}

tokens_tag = Tag(name="tokens", description="Validate and revoke tokens; public keys")
api = APIBlueprint("tokens", __name__, abp_tags=[tokens_tag])


def _request_body() -> object:
    """The body as sent: a form (as RFC 7662/7009 clients send it), JSON, or nothing."""
    if request.mimetype == "application/x-www-form-urlencoded":
        return request.form.to_dict()
    raw = request.get_data(cache=True)
    is_json = request.mimetype == "application/json" or request.mimetype.endswith("+json")
    if not raw.strip():
        return {}
    if not is_json:
        raise UnsupportedMediaType(
            'Send the token as a form field (token=...) or as JSON ({"token": "..."}).'
        )
    try:
        return request.get_json()
    except BadRequest:
        raise BadRequest("The request body is not valid JSON.") from None
    except RecursionError:
        raise BadRequest("The request body is nested too deeply.") from None


def token_request() -> TokenRequest:
    """The token to look at: from the body, or, for convenience, the request's own bearer
    token. A body that cannot be read is a 415 or 400, one that is not an object a 422, and
    a missing or non-string ``token`` a 422 (ValidationError); any string is a token to judge."""
    data = _request_body()
    if not isinstance(data, dict):
        raise BodyNotAnObject(
            "The request body must be a JSON object.",
            errors=[{"field": "body", "message": "must be a JSON object", "type": "dict_type"}],
        )
    if "token" not in data:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            data = {**data, "token": credentials.strip()}
    return TokenRequest.model_validate(data)


@api.post(
    "/validate",
    responses={200: Introspection},
    openapi_extensions=TOKEN_REQUEST_BODY,
)
@no_json_body
def validate() -> Response:
    """Is this access token good right now? ``{"active": true, ...claims}`` or
    ``{"active": false}``.

    Send ``{"token": "..."}`` as JSON, ``token=...`` as a form, or the token as
    ``Authorization: Bearer``. Only access tokens are ever active here: a refresh token, like
    an expired, tampered or revoked token or one of an unknown or disabled user, is simply
    inactive (``/introspect`` describes refresh tokens too).
    """
    body = token_request()
    return jsonify(introspect(get_db(), body.token, access_only=True))


@api.post(
    "/introspect",
    responses={200: Introspection},
    endpoint="introspect",
    openapi_extensions=TOKEN_REQUEST_BODY,
)
@no_json_body
def introspect_token() -> Response:
    """RFC 7662 introspection: what an access or refresh token says, if it is good right now.

    Access tokens answer ``token_type: "Bearer"`` (their OAuth token type), refresh tokens
    ``token_type: "refresh_token"``; anything else is ``{"active": false}``. ``token_type_hint``
    is accepted; both kinds are recognised by their form whatever it says (RFC 7662 §2.1).
    """
    body = token_request()
    return jsonify(introspect(get_db(), body.token))


@api.post(
    "/revoke",
    responses={200: None},
    openapi_extensions=TOKEN_REQUEST_BODY,
)
@no_json_body
def revoke() -> Response:
    """RFC 7009: end the session of this refresh or access token. Answers 200 for any token
    value, known or not, and even without one; only a body that cannot be read, or that has a
    member other than ``token`` and ``token_type_hint`` (a misspelt ``tokn`` would otherwise
    revoke nothing in silence), is refused.

    A refresh token ends its session whatever its state, as ``/logout`` does (one spent by a
    rotation too: its session is the one to end); an access token only while it is live."""
    try:
        body = token_request()
    except ValidationError as error:
        if any(item["type"] == "extra_forbidden" for item in error.errors()):
            raise
        return Response(status=200)
    except BodyNotAnObject:
        return Response(status=200)
    db = get_db()
    token = body.token
    if not (0 < len(token) <= MAX_TOKEN_LENGTH and token.isascii()):
        return Response(status=200)  # none of ours: no work
    if token.count(".") == 2:
        claims = introspect(db, token, access_only=True)
        session_id = claims.get("sid") if claims.get("active") else None
        if session_id:
            with db.transaction() as session:
                sessions.revoke_session(session, session_id, "revoked")
    else:
        with db.transaction() as session:
            sessions.end_session_of(session, token, "revoked")
    return Response(status=200)


@api.get("/.well-known/jwks.json", responses={200: Jwks})
def jwks() -> Response:
    """The public keys (JWKS) that verify this service's tokens."""
    response = jsonify(get_keyring().jwks())
    response.cache_control.public = True
    response.cache_control.max_age = 60
    return response


@api.get("/", responses={200: ServiceIndex})
def index() -> Response:
    """What this service is and where its endpoints are."""
    return jsonify(
        name="Estante Auth Service",
        version=__version__,
        links={
            "register": url_for("auth.register"),
            "login": url_for("auth.login"),
            "refresh": url_for("auth.refresh"),
            "logout": url_for("auth.logout"),
            "me": url_for("auth.me"),
            "validate": url_for("tokens.validate"),
            "introspect": url_for("tokens.introspect"),
            "revoke": url_for("tokens.revoke"),
            "jwks": url_for("tokens.jwks"),
            "health": "/healthz",
            "openapi": "/docs/openapi.json",
        },
    )
