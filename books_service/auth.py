"""Who is calling: tokens verified locally against the auth service's published keys, and
refused when the auth service's revocation list names them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, g, request
from flask_jwt_extended import get_jwt, get_jwt_header, verify_jwt_in_request
from jwt import InvalidAlgorithmError, InvalidTokenError

from books_service.jwks import JwksCache, JwksUnavailable
from books_service.revocations import RevocationCache
from common.errors import Forbidden, ServiceUnavailable
from common.tokens import ALGORITHM, UnknownSigningKey, VerifiedTokens, init_jwt

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Who may change the catalog. A valid token without one of these roles gets 403.
WRITER_ROLES = frozenset({"librarian", "admin"})
ADMIN_ROLES = frozenset({"admin"})


class MissingRole(Forbidden):
    type = "/problems/forbidden"
    title = "Forbidden"


def init_auth(
    app: Flask, jwks: JwksCache, revoked: RevocationCache, *, issuer: str, audience: str
) -> None:
    app.extensions["estante.jwks"] = jwks
    app.extensions["estante.revocations"] = revoked
    app.extensions["estante.verified_tokens"] = VerifiedTokens()

    def verification_key(header: dict[str, Any], _payload: dict[str, Any]) -> Any:
        # Refuse a foreign algorithm before any key work (and before any JWKS fetch).
        if header.get("alg") != ALGORITHM:
            raise InvalidAlgorithmError("the token's algorithm is not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise UnknownSigningKey("the token names no key")
        try:
            return current_app.extensions["estante.jwks"].key_for(kid).key
        except JwksUnavailable:
            raise ServiceUnavailable(
                "Tokens cannot be verified right now: the auth service is unreachable.",
                headers={"Retry-After": "5"},
            ) from None

    jwt = init_jwt(app, issuer=issuer, audience=audience, decode_key_loader=verification_key)

    @jwt.token_in_blocklist_loader
    def is_revoked(_header: dict[str, Any], claims: dict[str, Any]) -> bool:
        # Asked only for a well-signed, unexpired token; a revoked one gets 401 "revoked".
        return current_app.extensions["estante.revocations"].is_revoked(claims)


def current_roles() -> frozenset[str]:
    return roles_of(get_jwt())


def verify_token() -> None:
    """Verify the request's token (401 if bad or revoked), or find it among those this worker
    verified before (see :func:`remembered_token`). Either way ``get_jwt()`` reads its claims
    afterwards."""
    authorization = request.headers.get("Authorization")
    extensions = current_app.extensions
    known = remembered_token(extensions, authorization) if authorization else None
    if known is not None:
        header, claims = known
        g._jwt_extended_jwt_user = {"loaded_user": None}
        g._jwt_extended_jwt_header = header
        g._jwt_extended_jwt = claims
        g._jwt_extended_jwt_location = "headers"
        return
    verify_jwt_in_request()
    if authorization:
        header = get_jwt_header()
        key = _published_key(extensions["estante.jwks"], header["kid"])
        if key is not None:
            verified: VerifiedTokens = extensions["estante.verified_tokens"]
            verified.put(authorization, header, get_jwt(), key)


def remembered_token(
    extensions: Mapping[str, Any], authorization: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The header and claims of a token this worker verified before (see
    :class:`~common.tokens.VerifiedTokens`), before its ``exp``, whose key is still the one the
    JWKS publishes under its ``kid``, and that the revocation list does not name; None
    otherwise (the full verification then judges it, and says why it is refused). No request
    context needed: the route in front of Flask asks it too."""
    verified: VerifiedTokens = extensions["estante.verified_tokens"]
    known = verified.get(authorization)
    if known is None:
        return None
    header, claims, key = known
    if _published_key(extensions["estante.jwks"], header["kid"]) is not key:
        return None
    revoked: RevocationCache = extensions["estante.revocations"]
    if revoked.is_revoked(claims):
        return None
    return header, claims


def _published_key(jwks: JwksCache, kid: str) -> object | None:
    """The key the JWKS publishes under ``kid`` now (None if none: the full verification then
    says why)."""
    try:
        key: object = jwks.key_for(kid)
    except (JwksUnavailable, InvalidTokenError):
        return None
    return key


def roles_of(claims: Mapping[str, Any]) -> frozenset[str]:
    roles = claims.get("roles")
    return (
        frozenset(r for r in roles if isinstance(r, str))
        if isinstance(roles, list)
        else frozenset()
    )


def username_of(claims: Mapping[str, Any]) -> str:
    return str(claims.get("username") or claims["sub"])


def require_roles(allowed: frozenset[str]) -> None:
    """Verify the request's token (401 if bad) and that it carries one of ``allowed`` (403)."""
    verify_token()
    g.user_id = get_jwt()["sub"]
    if not current_roles() & allowed:
        raise MissingRole(
            f"This needs one of the roles {', '.join(sorted(allowed))}; your token has "
            f"{', '.join(sorted(current_roles())) or 'none'}."
        )


def require_token_for_writes() -> None:
    """``before_request`` hook: reading is public, every write needs a librarian or admin
    (views that need more, such as restoring, check it themselves)."""
    if request.method in WRITE_METHODS and request.routing_exception is None:
        require_roles(WRITER_ROLES)


def current_username() -> str:
    return username_of(get_jwt())
