"""Access-token verification set-up shared by both services (Flask-JWT-Extended over PyJWT).

Verification is pinned: EdDSA only (so ``alg: none`` and HS256 forgeries fail), signature,
``exp`` required, ``nbf``, ``iss`` and ``aud`` checked. Every refusal is a 401 problem with
``WWW-Authenticate: Bearer``; the library's default 422 for a bad token is overridden.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, Response
from flask_jwt_extended import JWTManager
from jwt import InvalidTokenError

from common.problem_json import problem

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud", "jti")


class UnknownSigningKey(InvalidTokenError):
    """The token names no key, or a key nobody published: a 401 like any other bad token."""


DecodeKeyLoader = Callable[[dict[str, Any], dict[str, Any]], Any]


def _unauthorized(detail: str, error: str = "invalid_token") -> Response:
    return problem(
        401,
        detail,
        type_="/problems/unauthorized",
        headers={"WWW-Authenticate": f'Bearer error="{error}"'},
    )


def init_jwt(
    app: Flask,
    *,
    issuer: str,
    audience: str,
    decode_key_loader: DecodeKeyLoader,
    access_token_ttl: int = 900,
) -> JWTManager:
    app.config.update(
        JWT_ALGORITHM=ALGORITHM,
        JWT_DECODE_ALGORITHMS=[ALGORITHM],
        JWT_TOKEN_LOCATION=["headers"],
        JWT_ENCODE_ISSUER=issuer,
        JWT_DECODE_ISSUER=issuer,
        JWT_ENCODE_AUDIENCE=audience,
        JWT_DECODE_AUDIENCE=audience,
        JWT_ENCODE_NBF=True,
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=access_token_ttl),
        JWT_DECODE_LEEWAY=0,
        JWT_COOKIE_CSRF_PROTECT=False,  # tokens travel in headers only
    )
    jwt = JWTManager(app)
    jwt.decode_key_loader(decode_key_loader)

    @jwt.token_verification_loader
    def has_required_claims(_header: dict[str, Any], data: dict[str, Any]) -> bool:
        return all(claim in data for claim in REQUIRED_CLAIMS)

    @jwt.token_verification_failed_loader
    def claims_missing(_header: dict[str, Any], _data: dict[str, Any]) -> Response:
        return _unauthorized("The token lacks a required claim.")

    @jwt.unauthorized_loader
    def no_token(_reason: str) -> Response:
        response = _unauthorized(
            "This request needs a token: send 'Authorization: Bearer <token>'."
        )
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @jwt.invalid_token_loader
    def invalid_token(_reason: str) -> Response:
        # The reason stays on the server: telling a forger which check failed helps only them.
        return _unauthorized("The token is invalid.")

    @jwt.expired_token_loader
    def expired_token(_header: dict[str, Any], _data: dict[str, Any]) -> Response:
        return _unauthorized("The token has expired; log in again.")

    @jwt.revoked_token_loader
    def revoked_token(_header: dict[str, Any], _data: dict[str, Any]) -> Response:
        return _unauthorized("The token has been revoked.")

    @jwt.user_lookup_error_loader
    def unknown_user(_header: dict[str, Any], _data: dict[str, Any]) -> Response:
        return _unauthorized("The token's user no longer exists.")

    return jwt
