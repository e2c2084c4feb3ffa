"""HTTP endpoints about tokens themselves: validation/introspection, revocation, public keys."""

from __future__ import annotations

from flask import Response, jsonify, request, url_for
from flask_openapi3 import APIBlueprint, Tag
from pydantic import ValidationError

from auth_service import __version__, sessions
from auth_service.schemas import Introspection, Jwks, TokenRequest
from auth_service.tokens import get_keyring, introspect
from common.db import get_db
from common.json_body import no_json_body
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


def token_request() -> TokenRequest:
    """The token to look at: a form field (as RFC 7662/7009 clients send it), a JSON body, or,
    for convenience, the request's own bearer token."""
    if request.mimetype == "application/x-www-form-urlencoded":
        data: object = request.form.to_dict()
    elif request.mimetype == "application/json" or request.get_data(cache=True):
        data = request.get_json(silent=False)
    else:
        data = {}
    if isinstance(data, dict) and "token" not in data:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            data = {**data, "token": credentials.strip()}
    if not isinstance(data, dict):
        data = {"token": None}
    return TokenRequest.model_validate(data)


@no_json_body
def validate() -> Response:
    """Is this token good right now? ``{"active": true, ...claims}`` or ``{"active": false}``.

    Send ``{"token": "..."}`` as JSON, ``token=...`` as a form, or the token as
    ``Authorization: Bearer``. Expired, tampered, revoked tokens and tokens of unknown or
    disabled users are all simply inactive.
    """
    body = token_request()
    return jsonify(introspect(get_db(), body.token))


for path in ("/validate", "/introspect"):
    api.post(
        path,
        responses={200: Introspection},
        endpoint=path.strip("/"),
        openapi_extensions=TOKEN_REQUEST_BODY,
    )(validate)


@api.post("/revoke", responses={200: None}, openapi_extensions=TOKEN_REQUEST_BODY)
@no_json_body
def revoke() -> Response:
    """RFC 7009: end the session of this refresh or access token. Always answers 200."""
    try:
        body = token_request()
    except ValidationError:
        return Response(status=200)
    db = get_db()
    claims = introspect(db, body.token)
    session_id = claims.get("sid") if claims.get("active") else None
    if session_id:
        with db.transaction() as session:
            sessions.revoke_session(session, session_id, "revoked")
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
