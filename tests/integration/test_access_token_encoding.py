"""Access tokens are encoded by the Auth Service itself (the key parsed once, the header once
per key): each must still be exactly what every verifier accepts, signed by the key that is
active when it is signed, and its recorded expiry must be the one it carries."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import jwt
import time_machine
from flask_openapi3 import OpenAPI

from auth_service.app import create_app, prepare
from auth_service.config import AuthSettings
from auth_service.keys import KeyRing, generate_key
from auth_service.models import User
from auth_service.tokens import get_keyring, sign_access_token
from common.tokens import check_claims, check_header


def app_for(tmp_path: Path) -> tuple[OpenAPI, AuthSettings]:
    settings = AuthSettings(data_dir=tmp_path, argon2_memory_kib=8192, keys_reload_seconds=0)
    prepare(settings)
    return create_app(settings), settings


def segment(token: str, index: int) -> dict[str, object]:
    part = token.split(".")[index]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_a_signed_token_verifies_and_carries_every_claim_a_verifier_checks(
    tmp_path: Path,
) -> None:
    app, settings = app_for(tmp_path)
    user = User(id=7, username="maria", role="librarian")
    with app.app_context():
        issued = sign_access_token(user, "a" * 32)
        key = get_keyring().active
    header = segment(issued.token, 0)
    assert header == {"alg": "EdDSA", "kid": key.kid, "typ": "at+jwt"}
    check_header(header)
    claims = jwt.decode(
        issued.token,
        key.public_pem,
        algorithms=["EdDSA"],
        audience=settings.audience,
        issuer=settings.issuer,
    )
    check_claims(claims)
    assert claims["sub"] == "7"
    assert claims["username"] == "maria"
    assert claims["roles"] == ["librarian"]
    assert claims["sid"] == "a" * 32
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl
    assert issued.expires_at == datetime.fromtimestamp(claims["exp"], UTC)


def test_a_token_is_signed_by_the_key_that_is_active_when_it_is_signed(tmp_path: Path) -> None:
    app, settings = app_for(tmp_path)
    user = User(id=1, username="ana", role="reader")
    with app.app_context():
        first = sign_access_token(user, "b" * 32)
    generate_key(settings.signing_keys_dir)
    with time_machine.travel(datetime.now(UTC).timestamp() + 3600, tick=False):
        ring = KeyRing.load(settings.signing_keys_dir)
        with app.app_context():
            second = sign_access_token(user, "b" * 32)
            active = get_keyring().active
    assert segment(first.token, 0)["kid"] != segment(second.token, 0)["kid"]
    assert segment(second.token, 0)["kid"] == active.kid == ring.keys[-1].kid
    jwt.decode(
        second.token,
        active.public_pem,
        algorithms=["EdDSA"],
        audience=settings.audience,
        issuer=settings.issuer,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
