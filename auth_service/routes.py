"""HTTP endpoints of the Auth Service: parse, call the accounts module, respond."""

from __future__ import annotations

from flask import Response, current_app, jsonify, url_for
from flask_openapi3 import APIBlueprint, Tag

from auth_service import __version__, accounts
from auth_service.passwords import Hasher
from auth_service.schemas import LoginRequest, RegisterRequest, TokenResponse
from auth_service.tokens import get_keyring, issue_access_token
from common.db import get_db

accounts_tag = Tag(name="accounts", description="Register and log in")
keys_tag = Tag(name="keys", description="Public keys that verify the tokens")
api = APIBlueprint("auth", __name__, abp_tags=[accounts_tag])
# The original implementation served the same endpoints under /auth.
legacy_api = APIBlueprint("auth_legacy", __name__, url_prefix="/auth", abp_tags=[accounts_tag])


def get_hasher() -> Hasher:
    return current_app.extensions["estante.hasher"]


def register(body: RegisterRequest) -> tuple[Response, int]:
    """Create an account and return an access token for it."""
    user = accounts.register(get_db(), get_hasher(), body.username, body.password)
    return jsonify(issue_access_token(user).model_dump()), 201


def login(body: LoginRequest) -> Response:
    """Exchange a username and password for an access token."""
    user = accounts.authenticate(get_db(), get_hasher(), body.username, body.password)
    return jsonify(issue_access_token(user).model_dump())


api.post("/register", responses={201: TokenResponse})(register)
api.post("/login", responses={200: TokenResponse})(login)
legacy_api.post("/register", responses={201: TokenResponse}, deprecated=True)(register)
legacy_api.post("/login", responses={200: TokenResponse}, deprecated=True)(login)


@api.get("/.well-known/jwks.json", tags=[keys_tag])
def jwks() -> Response:
    """The public keys (JWKS) that verify this service's tokens."""
    response = jsonify(get_keyring().jwks())
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


@api.get("/", tags=[keys_tag])
def index() -> Response:
    """What this service is and where its endpoints are."""
    return jsonify(
        name="Estante Auth Service",
        version=__version__,
        links={
            "register": url_for("auth.register", _external=False),
            "login": url_for("auth.login", _external=False),
            "jwks": url_for("auth.jwks", _external=False),
            "health": "/healthz",
            "openapi": "/docs/openapi.json",
        },
    )
