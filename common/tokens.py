"""Access-token verification set-up shared by both services (Flask-JWT-Extended over PyJWT).

Verification is pinned: EdDSA only (so ``alg: none`` and HS256 forgeries fail), signature,
``exp`` required, ``nbf``, ``iss`` and ``aud`` checked, with a small clock leeway. Before any
key is looked up, the token must say what it is and carry well-formed claims:

* the header's ``typ`` is ``at+jwt`` (RFC 9068 §4, explicit typing per RFC 8725 §3.11): a JWT
  that the same key signed for another purpose is not an access token;
* ``iss``, ``aud``, ``sub``, ``exp``, ``iat``, ``nbf``, ``jti``, ``type: access``, ``username``
  and ``roles`` are present, of the right type and bounded in size (``username`` must be a name
  some version of the Auth Service could have stored, older rules' included: the Books Service
  stores it), and ``sid`` when present is too.

The claims are read before the signature is checked; that is sound because the signature then
covers exactly the bytes that were read, and a refusal says nothing about why. Every refusal is
a 401 problem with ``WWW-Authenticate: Bearer``; the library's default 422 is overridden.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, Response, request
from flask_jwt_extended import JWTManager
from jwt import InvalidTokenError

from common.problem_json import problem
from common.usernames import is_stored_username

ALGORITHM = "EdDSA"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (RFC 9068 media type, not a secret)
# RFC 7515 §4.1.9: "typ" is a media type, compared ignoring case, "application/" optional.
ACCEPTED_TOKEN_TYPES = frozenset({ACCESS_TOKEN_TYPE, f"application/{ACCESS_TOKEN_TYPE}"})
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "nbf", "jti", "type", "username", "roles")
# Tokens set nbf = iat: a verifier whose clock is a little behind the issuer's would refuse
# every fresh token without some leeway. Small, because it also extends every token's life.
DEFAULT_LEEWAY_SECONDS = 5
MAX_SUBJECT_DIGITS = 19  # a 64-bit id
MAX_ROLES = 8
MAX_ROLE_LENGTH = 32
MAX_JTI_LENGTH = 128
MAX_SID_LENGTH = 64


class UnknownSigningKey(InvalidTokenError):
    """The token names no key, or a key nobody published: a 401 like any other bad token."""


class NotAnAccessToken(InvalidTokenError):
    """The header or the claims are not those of one of our access tokens."""


DecodeKeyLoader = Callable[[dict[str, Any], dict[str, Any]], Any]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_short_text(value: object, max_length: int) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= max_length
        and value.isascii()
        and value.isprintable()
    )


def check_header(header: dict[str, Any]) -> None:
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TOKEN_TYPES:
        raise NotAnAccessToken("typ is not at+jwt")


def check_claims(claims: dict[str, Any]) -> None:
    """Raise NotAnAccessToken unless every claim an access token needs is there and sane."""
    missing = [claim for claim in REQUIRED_CLAIMS if claim not in claims]
    if missing:
        raise NotAnAccessToken(f"missing claims: {', '.join(missing)}")
    if claims["type"] != "access":
        raise NotAnAccessToken("not an access token")
    subject = claims["sub"]
    if not (
        isinstance(subject, str)
        and 0 < len(subject) <= MAX_SUBJECT_DIGITS
        and subject.isascii()
        and subject.isdigit()
    ):
        raise NotAnAccessToken("sub is not a user id")
    if not all(_is_int(claims[name]) for name in ("exp", "iat", "nbf")):
        raise NotAnAccessToken("exp, iat and nbf must be integers")
    if not _is_short_text(claims["jti"], MAX_JTI_LENGTH):
        raise NotAnAccessToken("jti is not a short identifier")
    if not is_stored_username(claims["username"]):
        raise NotAnAccessToken("username is not a name the Auth Service could have stored")
    roles = claims["roles"]
    if not (
        isinstance(roles, list)
        and len(roles) <= MAX_ROLES
        and all(_is_short_text(role, MAX_ROLE_LENGTH) for role in roles)
    ):
        raise NotAnAccessToken("roles is not a short list of role names")
    if "sid" in claims and not _is_short_text(claims["sid"], MAX_SID_LENGTH):
        raise NotAnAccessToken("sid is not a session id")


class VerifiedTokens:
    """A worker's memory of the access tokens it has verified, keyed by the raw token, each kept
    until its ``exp``: a client sends the same token with every request for its whole life, and
    checking its signature and claims again each time was a tenth of a write's CPU. Only what
    cannot change is remembered (the signature over these exact bytes, the claims' shape): the
    caller still asks the revocation list on every request, and whether the key that verified
    the token is still the one published under its ``kid``. At ``exp`` an entry is forgotten,
    and the full verification (with its leeway) judges the token again. Bounded: at
    ``max_entries`` the oldest entry goes, so a flood of tokens costs memory once, not forever."""

    def __init__(self, max_entries: int = 2000, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[dict[str, Any], dict[str, Any], object]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> tuple[dict[str, Any], dict[str, Any], object] | None:
        """The header, claims and verifying key of a token verified before and not yet at its
        ``exp``; None otherwise."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if self._clock() >= entry[1]["exp"]:
            with self._lock:
                self._entries.pop(token, None)
            return None
        return entry

    def put(self, token: str, header: dict[str, Any], claims: dict[str, Any], key: object) -> None:
        """Remember a token that has just passed every check, verified with ``key``."""
        if self._clock() >= claims["exp"]:
            return  # inside the leeway: judged afresh every time
        with self._lock:
            self._entries[token] = (header, claims, key)
            self._entries.move_to_end(token)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


def _canonical_bearer_scheme() -> None:
    """``before_request`` hook: the auth scheme is case-insensitive (RFC 9110 §11.1), but
    Flask-JWT-Extended compares it exactly; ``bearer x`` becomes ``Bearer x`` before it looks.
    (Werkzeug's request headers read the WSGI environ, so rewriting it is what they see.)"""
    value = request.environ.get("HTTP_AUTHORIZATION")
    if not value:
        return
    scheme, space, credentials = value.strip().partition(" ")
    if space and scheme != "Bearer" and scheme.lower() == "bearer":
        request.environ["HTTP_AUTHORIZATION"] = f"Bearer {credentials.lstrip(' ')}"


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
    leeway: int | None = None,
) -> JWTManager:
    """Configure verification. ``leeway`` defaults to the service settings' JWT_LEEWAY_SECONDS."""
    if leeway is None:
        settings = app.config.get("ESTANTE_SETTINGS")
        leeway = getattr(settings, "jwt_leeway", DEFAULT_LEEWAY_SECONDS)
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
        JWT_DECODE_LEEWAY=leeway,
        JWT_COOKIE_CSRF_PROTECT=False,  # tokens travel in headers only
    )
    jwt = JWTManager(app)
    app.before_request(_canonical_bearer_scheme)

    # The loader runs before any key work (and before the Books Service fetches a JWKS), on
    # every decode: request tokens and introspected ones alike.
    def checked_key_loader(header: dict[str, Any], claims: dict[str, Any]) -> Any:
        check_header(header)
        check_claims(claims)
        return decode_key_loader(header, claims)

    jwt.decode_key_loader(checked_key_loader)

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
