"""Issuing and verifying access tokens, without HTTP servers: the app factory on a temporary
SQLite file, its test client, and PyJWT as an independent verifier."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient

from auth_service.app import create_app, prepare
from auth_service.config import AuthSettings
from auth_service.keys import KeyRing, generate_key, key_files
from books_service.jwks import JwksCache, JwksUnavailable
from common.tokens import UnknownSigningKey


@pytest.fixture
def client(tmp_path: Path) -> Iterator[FlaskClient]:
    settings = AuthSettings(
        data_dir=tmp_path, argon2_memory_kib=8192, rate_limits_enabled=False, access_token_ttl=600
    )
    prepare(settings)
    yield create_app(settings).test_client()


def issued(client: FlaskClient) -> tuple[str, dict]:
    response = client.post("/register", json={"username": "ana", "password": "a fine passphrase"})
    assert response.status_code == 201
    jwks = client.get("/.well-known/jwks.json").get_json()
    return response.get_json()["access_token"], jwks


def test_tokens_carry_the_promised_header_and_claims(client: FlaskClient) -> None:
    token, jwks = issued(client)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["typ"] == "at+jwt"
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))
    claims = jwt.decode(
        token, key.key, algorithms=["EdDSA"], audience="estante", issuer="estante-auth"
    )
    assert claims["sub"] == "1" and claims["username"] == "ana"
    assert claims["roles"] == ["librarian"]
    assert claims["exp"] - claims["iat"] == 600  # the configured lifetime
    assert claims["nbf"] <= claims["iat"]
    assert claims["jti"] and claims["sid"]


def test_a_name_stored_under_the_first_rule_gets_working_tokens(client: FlaskClient) -> None:
    # "-_-" could be registered before names needed a letter or digit: it may be in a database,
    # its owner logs in, and the token must then work, not be a 401 everywhere.
    from auth_service.models import User

    app = client.application
    hasher = app.extensions["estante.hasher"]
    with app.extensions["estante.db"].transaction() as session:
        session.add(
            User(username="-_-", username_key="-_-", password_hash=hasher.hash("old passphrase"))
        )
    response = client.post("/login", json={"username": "-_-", "password": "old passphrase"})
    assert response.status_code == 200, response.get_json()
    token = response.get_json()["access_token"]
    me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.get_json()["username"] == "-_-"
    assert client.post("/validate", json={"token": token}).get_json()["active"] is True
    refreshed = client.post(
        "/token/refresh", json={"refresh_token": response.get_json()["refresh_token"]}
    )
    assert refreshed.status_code == 200
    # New accounts still need a letter or digit.
    refused = client.post("/register", json={"username": "_-_", "password": "a fine passphrase"})
    assert refused.status_code == 422


def test_a_user_deleted_during_their_password_change_gets_a_401(client: FlaskClient) -> None:
    from auth_service import accounts
    from auth_service.passwords import Hasher

    token, _ = issued(client)
    app = client.application
    db = app.extensions["estante.db"]

    class DeletesFirst(Hasher):  # the user is deleted between the two password checks
        def hash(self, password: str) -> str:
            accounts.delete_user(db, 1)
            return super().hash(password)

    app.extensions["estante.hasher"] = DeletesFirst(memory_kib=8192)
    response = client.post(
        "/me/password",
        json={"current_password": "a fine passphrase", "new_password": "another passphrase"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401, response.get_json()  # was a 500
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_a_token_does_not_verify_with_another_key_or_audience(client: FlaskClient) -> None:
    token, jwks = issued(client)
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other, algorithms=["EdDSA"], audience="estante")
    key = jwt.PyJWK(jwks["keys"][0]).key
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key, algorithms=["EdDSA"], audience="somebody-else")


def test_the_jwks_publishes_public_keys_only(client: FlaskClient) -> None:
    _, jwks = issued(client)
    assert jwks["keys"] and all(
        set(k) == {"kty", "crv", "x", "kid", "use", "alg"} for k in jwks["keys"]
    )


def test_kid_is_the_rfc7638_thumbprint(tmp_path: Path) -> None:
    path = generate_key(tmp_path)
    key = KeyRing.load(tmp_path).keys[0]
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True
    )
    expected = (
        base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    )
    assert key.kid == expected


def test_generated_keys_are_private(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    path = generate_key(directory, development=True)
    assert path.stat().st_mode & 0o777 == 0o600
    assert directory.stat().st_mode & 0o777 == 0o700
    assert path.name.startswith("dev-")
    assert KeyRing.production_problems(directory)  # a dev key is unfit for production
    generate_key(directory)
    KeyRing.ensure(directory)  # a directory with keys gets no new one
    assert len(key_files(directory)) == 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def jwk_document(*kids: str) -> dict:
    keys = []
    for kid in kids:
        public = Ed25519PrivateKey.generate().public_key()
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        keys.append({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA"})
    return {"keys": keys}


def test_jwks_cache_refetches_once_per_cooldown_for_unknown_kids() -> None:
    clock, calls = FakeClock(), []

    def fetch(_url: str, _timeout: float) -> dict:
        calls.append(clock.now)
        return jwk_document("a")

    cache = JwksCache("x", cooldown=10, max_age=300, clock=clock, fetch=fetch)
    assert cache.key_for("a")
    assert cache.key_for("a") and len(calls) == 1  # served from the cache
    with pytest.raises(UnknownSigningKey):
        cache.key_for("made-up")  # within the cooldown: no fetch
    assert len(calls) == 1
    clock.now += 11
    with pytest.raises(UnknownSigningKey):
        cache.key_for("made-up-too")  # the cooldown is over: one fetch
    assert len(calls) == 2
    for i in range(50):  # a flood of made-up kids costs nothing more
        with pytest.raises(UnknownSigningKey):
            cache.key_for(f"flood-{i}")
    assert len(calls) == 2


def test_jwks_cache_keeps_its_keys_when_the_auth_service_is_down(tmp_path: Path) -> None:
    clock, up = FakeClock(), {"value": True}
    document = jwk_document("a")

    def fetch(_url: str, _timeout: float) -> dict:
        if not up["value"]:
            raise OSError("connection refused")
        return document

    cache_file = tmp_path / "jwks.json"
    cache = JwksCache("x", max_age=60, cache_file=cache_file, clock=clock, fetch=fetch)
    assert cache.key_for("a")
    up["value"] = False
    clock.now += 120  # stale, and the refresh fails: the known key still verifies
    assert cache.key_for("a")
    # A new process (a restart) with the auth service still down reads the file.
    restarted = JwksCache("x", cache_file=cache_file, clock=clock, fetch=fetch)
    assert restarted.key_for("a")
    # With no file and no service there is nothing to verify with: unavailable, not invalid.
    empty = JwksCache("x", cache_file=tmp_path / "none.json", clock=clock, fetch=fetch)
    with pytest.raises(JwksUnavailable):
        empty.key_for("a")
