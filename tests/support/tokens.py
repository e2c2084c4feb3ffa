"""Tokens made by hand and signed with a running Auth Service's own key."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from auth_service.keys import KeyRing
from tests.support.harness import Stack


def good_claims(**overrides: Any) -> dict[str, Any]:
    """The claims of a valid access token, changed by ``overrides`` (``None`` drops a claim)."""
    now = int(time.time())
    claims = {
        "iss": "estante-auth",
        "aud": "estante",
        "sub": "1",
        "username": "mallory",
        "roles": ["admin"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "type": "access",
        "fresh": False,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign_with_service_key(stack: Stack, claims: dict[str, Any], **header: Any) -> str:
    """A token signed with the service's own key: as good as the claims and header it gets
    (by default those of a real access token, ``typ: at+jwt``)."""
    key = KeyRing.load(stack.keys_dir()).active
    headers = {"kid": key.kid, "typ": "at+jwt", **header}
    return jwt.encode(
        claims,
        key.private_pem,
        algorithm="EdDSA",
        headers={k: v for k, v in headers.items() if v is not None},
    )
