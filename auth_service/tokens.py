"""Issuing access tokens, signed with the newest key of the key ring."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from flask_jwt_extended import create_access_token

from auth_service.keys import ALGORITHM, KeyRing
from auth_service.models import User
from auth_service.schemas import TokenResponse, UserOut
from common.tokens import UnknownSigningKey, init_jwt


def get_keyring() -> KeyRing:
    return current_app.extensions["estante.keyring"]


def init_tokens(app: Flask, keyring: KeyRing, *, issuer: str, audience: str, ttl: int) -> None:
    app.extensions["estante.keyring"] = keyring

    def verification_key(header: dict[str, Any], _payload: dict[str, Any]) -> bytes:
        key = get_keyring().by_kid(str(header.get("kid", "")))
        if key is None:
            raise UnknownSigningKey("unknown kid")
        return key.public_pem

    jwt = init_jwt(
        app,
        issuer=issuer,
        audience=audience,
        decode_key_loader=verification_key,
        access_token_ttl=ttl,
    )
    jwt.encode_key_loader(lambda _identity: get_keyring().active.private_pem)
    jwt.additional_headers_loader(
        lambda _identity: {"kid": get_keyring().active.kid, "typ": "at+jwt", "alg": ALGORITHM}
    )


def issue_access_token(user: User) -> TokenResponse:
    token = create_access_token(
        identity=str(user.id),
        additional_claims={"username": user.username, "roles": user.roles},
    )
    ttl = int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())
    return TokenResponse(
        access_token=token,
        expires_in=ttl,
        user=UserOut(id=user.id, username=user.username, roles=user.roles),
    )
