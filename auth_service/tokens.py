"""Issuing and checking tokens: JWT access tokens, opaque refresh tokens, introspection."""

from __future__ import annotations

import base64
import functools
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask, current_app, g
from flask_jwt_extended import decode_token
from jwt import PyJWTError

from auth_service import revocations, sessions
from auth_service.keys import KeyRing, KeySource, SigningKey
from auth_service.models import LoginSession, User
from auth_service.schemas import TokenResponse, UserOut
from common.clock import as_utc, utcnow
from common.db import Database
from common.tokens import ACCESS_TOKEN_TYPE, ALGORITHM, UnknownSigningKey, init_jwt


def get_keyring() -> KeyRing:
    return current_app.extensions["estante.keys"].ring()


def init_tokens(app: Flask, keys: KeySource, *, issuer: str, audience: str, ttl: int) -> None:
    app.extensions["estante.keys"] = keys

    def verification_key(header: dict[str, Any], _payload: dict[str, Any]) -> Ed25519PublicKey:
        key = get_keyring().by_kid(str(header.get("kid", "")))
        if key is None:
            raise UnknownSigningKey("unknown kid")
        return key.public_key

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


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@functools.lru_cache(maxsize=16)
def _encoded_header(kid: str) -> bytes:
    """The JWS header of every token a key signs, encoded once per key: what PyJWT would
    write (sorted members, no white space)."""
    header = {"alg": ALGORITHM, "kid": kid, "typ": ACCESS_TOKEN_TYPE}
    return _b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())


def sign_access_token(user: User, session_id: str) -> sessions.AccessToken:
    """The access token of ``user`` in session ``session_id``, signed now. Called in the
    transaction that issues it, with the user's row locked (:func:`sessions.issuing`).

    The claims are those Flask-JWT-Extended writes (and both services' verification expects,
    :func:`common.tokens.check_claims`); the token is encoded here, with the key parsed when
    its file was read and the header encoded once per key, rather than by the library, which
    parses the PEM key again for every token."""
    key = get_keyring().active
    config = current_app.config
    now = int(datetime.now(UTC).timestamp())
    expires = now + int(config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())
    claims = {
        "fresh": False,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "type": "access",
        "sub": str(user.id),
        "nbf": now,
        "aud": config["JWT_ENCODE_AUDIENCE"],
        "iss": config["JWT_ENCODE_ISSUER"],
        "exp": expires,
        "username": user.username,
        "roles": user.roles,
        "sid": session_id,
    }
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = _encoded_header(key.kid) + b"." + payload
    signature = _b64url(key.private_key.sign(signing_input))
    token = (signing_input + b"." + signature).decode("ascii")
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
