"""Issuing and checking tokens: JWT access tokens, opaque refresh tokens, introspection."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt
from flask import Flask, current_app, g
from flask_jwt_extended import create_access_token, decode_token
from jwt import PyJWTError

from auth_service import revocations, sessions
from auth_service.keys import ALGORITHM, KeyRing, KeySource, SigningKey
from auth_service.models import LoginSession, User
from auth_service.schemas import TokenResponse, UserOut
from common.clock import as_utc, utcnow
from common.db import Database
from common.tokens import ACCESS_TOKEN_TYPE, UnknownSigningKey, init_jwt


def get_keyring() -> KeyRing:
    return current_app.extensions["estante.keys"].ring()


def init_tokens(app: Flask, keys: KeySource, *, issuer: str, audience: str, ttl: int) -> None:
    app.extensions["estante.keys"] = keys

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
    # One key per token: the header's kid must name the key that signs it, so both are read
    # from a single snapshot of the ring (it may reload between two calls).
    jwt.encode_key_loader(lambda _identity: _signing_key_for_this_request().private_pem)
    jwt.additional_headers_loader(
        lambda _identity: {
            "kid": _signing_key_for_this_request().kid,
            "typ": ACCESS_TOKEN_TYPE,
            "alg": ALGORITHM,
        }
    )


def _signing_key_for_this_request() -> SigningKey:
    if "estante_signing_key" not in g:
        g.estante_signing_key = get_keyring().active
    return g.estante_signing_key


def sign_access_token(user: User, session_id: str) -> sessions.AccessToken:
    """The access token of ``user`` in session ``session_id``, signed now. Called in the
    transaction that issues it, with the user's row locked (:func:`sessions.issuing`)."""
    token = create_access_token(
        identity=str(user.id),
        additional_claims={"username": user.username, "roles": user.roles, "sid": session_id},
    )
    # Its exp as signed, read back rather than recomputed from a clock of our own.
    expires = pyjwt.decode(token, options={"verify_signature": False})["exp"]
    return sessions.AccessToken(token, datetime.fromtimestamp(expires, UTC))


def token_response(issued: sessions.Issued) -> TokenResponse:
    user = issued.user
    g.user_id = user.id  # the access log names who logged in, registered or refreshed
    ttl = int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())
    refresh_in = int((issued.refresh_expires_at - utcnow()).total_seconds())
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=ttl,
        refresh_token=issued.refresh_token,
        refresh_expires_in=max(0, refresh_in),
        user=UserOut(id=user.id, username=user.username, roles=user.roles),
    )


INACTIVE: dict[str, Any] = {"active": False}


MAX_TOKEN_LENGTH = 4096


def introspect(db: Database, token: str, *, access_only: bool = False) -> dict[str, Any]:
    """RFC 7662: what the token says, if it is good right now; ``{"active": false}`` if not.
    With ``access_only``, a refresh token is inactive too (``/validate`` judges access tokens).
    """
    # Ours are ASCII and far shorter: anything else is inactive without any work.
    if not (0 < len(token) <= MAX_TOKEN_LENGTH and token.isascii()):
        return INACTIVE
    if token.count(".") == 2:
        return _introspect_access_token(db, token)
    return INACTIVE if access_only else _introspect_refresh_token(db, token)


def _introspect_access_token(db: Database, token: str) -> dict[str, Any]:
    try:
        claims = decode_token(token)
    except (PyJWTError, UnknownSigningKey, ValueError, KeyError):
        return INACTIVE
    # decode_token checked the header and claims (common.tokens.check_claims) before the key.
    with db.read() as session:
        user = revocations.live_user(session, claims)
        if user is None:
            return INACTIVE
        return {
            "active": True,
            # RFC 7662 §2.2: the OAuth token type (RFC 6749 §7.1) of an access token.
            "token_type": "Bearer",
            "sub": claims["sub"],
            "username": user.username,
            "roles": user.roles,
            "exp": claims["exp"],
            "iat": claims["iat"],
            "nbf": claims["nbf"],
            "iss": claims["iss"],
            "aud": claims["aud"],
            "jti": claims["jti"],
            "sid": claims.get("sid"),
        }


def _introspect_refresh_token(db: Database, token: str) -> dict[str, Any]:
    with db.read() as session:
        record = sessions.refresh_token_record(session, token)
        if record is None or record.used_at is not None:
            return INACTIVE
        login = session.get_one(LoginSession, record.session_id)
        user = session.get_one(User, login.user_id)
        now = utcnow()
        if (
            login.revoked_at is not None
            or as_utc(record.expires_at) <= now
            or as_utc(login.expires_at) <= now
            or user.is_disabled
        ):
            return INACTIVE
        return {
            "active": True,
            # Refresh tokens have no OAuth token type: the RFC 7009 hint name says what it is,
            # and differs from "Bearer" for any resource server that checks.
            "token_type": "refresh_token",
            "sub": str(user.id),
            "username": user.username,
            "roles": user.roles,
            "exp": int(as_utc(record.expires_at).timestamp()),
            "iat": int(as_utc(record.created_at).timestamp()),
            "sid": login.id,
        }
