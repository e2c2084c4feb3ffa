"""Every kind of bad token is refused with 401, and nothing is written."""

from __future__ import annotations

import base64
import json
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth_service.keys import KeyRing
from tests.integration.harness import Stack


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def good_claims(**overrides: Any) -> dict[str, Any]:
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
    key = KeyRing.load(stack.keys_dir()).active
    return jwt.encode(
        claims, key.private_pem, algorithm="EdDSA", headers={"kid": key.kid, **header}
    )


def tamper_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 0x01
    return f"{head}.{payload}.{b64(bytes(raw))}"


def tamper_payload(token: str) -> str:
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["admin"]
    return f"{head}.{b64(json.dumps(claims).encode())}.{signature}"


def alg_none(_stack: Stack, token: str) -> str:
    _, payload, _ = token.split(".")
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{payload}."


def hs256_guessed_secret(_stack: Stack, token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    with warnings.catch_warnings():  # a weak secret is the point of this forgery
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, "secret", algorithm="HS256")


def hs256_with_public_key(stack: Stack, token: str) -> str:
    # The classic algorithm-confusion attack: HMAC keyed with the published public key.
    claims = jwt.decode(token, options={"verify_signature": False})
    public = KeyRing.load(stack.keys_dir()).active.public_pem
    header = {"alg": "HS256", "kid": jwt.get_unverified_header(token)["kid"], "typ": "JWT"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    import hashlib
    import hmac

    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def foreign_key_same_kid(stack: Stack, token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return jwt.encode(
        claims, other, algorithm="EdDSA", headers={"kid": jwt.get_unverified_header(token)["kid"]}
    )


BAD_TOKENS: dict[str, Callable[[Stack, str], str]] = {
    "malformed": lambda _s, _t: "not-a-jwt",
    "three garbage parts": lambda _s, _t: "a.b.c",
    "alg none": alg_none,
    "tampered signature": lambda _s, t: tamper_signature(t),
    "tampered payload": lambda _s, t: tamper_payload(t),
    "HS256 with a guessed secret": hs256_guessed_secret,
    "HS256 keyed with the public key": hs256_with_public_key,
    "foreign key under our kid": foreign_key_same_kid,
    "unknown kid": lambda s, _t: sign_with_service_key(s, good_claims(), kid="no-such-key"),
    "no kid": lambda s, _t: jwt.encode(
        good_claims(), KeyRing.load(s.keys_dir()).active.private_pem, algorithm="EdDSA"
    ),
    "expired": lambda s, _t: sign_with_service_key(
        s, good_claims(exp=int(time.time()) - 60, iat=int(time.time()) - 1000)
    ),
    "not yet valid": lambda s, _t: sign_with_service_key(
        s, good_claims(nbf=int(time.time()) + 600)
    ),
    "another audience": lambda s, _t: sign_with_service_key(s, good_claims(aud="someone-else")),
    "another issuer": lambda s, _t: sign_with_service_key(s, good_claims(iss="evil-issuer")),
    "no exp": lambda s, _t: sign_with_service_key(s, good_claims(exp=None)),
    "no audience": lambda s, _t: sign_with_service_key(s, good_claims(aud=None)),
    "refresh type": lambda s, _t: sign_with_service_key(s, good_claims(type="refresh")),
}


@pytest.fixture(scope="module")
def real_token(stack: Stack) -> str:
    return stack.token()


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_bad_tokens_are_refused_and_change_nothing(
    stack: Stack, real_token: str, kind: str
) -> None:
    target = stack.add_book(real_token, title=f"target for {kind}")
    before = stack.list_books()
    token = BAD_TOKENS[kind](stack, real_token)
    headers = {"Authorization": f"Bearer {token}"}
    attempts = [
        requests.post(
            f"{stack.books_url}/books",
            json={"title": "x", "author": "y"},
            headers=headers,
            timeout=10,
        ),
        requests.put(
            f"{stack.books_url}/books/{target['id']}",
            json={"title": "x", "author": "y"},
            headers=headers,
            timeout=10,
        ),
        requests.delete(f"{stack.books_url}/books/{target['id']}", headers=headers, timeout=10),
    ]
    for response in attempts:
        assert response.status_code == 401, (kind, response.request.method, response.text)
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert stack.list_books() == before


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"],
)
def test_missing_or_wrong_authorization_header(stack: Stack, header: str | None) -> None:
    before = stack.list_books()
    headers = {} if header is None else {"Authorization": header}
    response = requests.post(
        f"{stack.books_url}/books", json={"title": "x", "author": "y"}, headers=headers, timeout=10
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert stack.list_books() == before


def test_a_good_token_signed_by_the_service_key_works(stack: Stack, real_token: str) -> None:
    # The forgeries above differ from this one only in what they break: the check is real.
    claims = jwt.decode(real_token, options={"verify_signature": False})
    token = sign_with_service_key(stack, good_claims(sub=claims["sub"], username="forged-ok"))
    book = stack.add_book(token, title="signed by the real key")
    assert book["created_by"] == "forged-ok"


def test_issued_token_shape(stack: Stack, real_token: str) -> None:
    header = jwt.get_unverified_header(real_token)
    assert header["alg"] == "EdDSA"
    assert header["typ"] == "at+jwt"
    jwks = requests.get(f"{stack.auth_url}/.well-known/jwks.json", timeout=10).json()
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    public = jwt.PyJWK({k: v for k, v in jwks["keys"][0].items()}).key
    claims = jwt.decode(
        real_token, public, algorithms=["EdDSA"], audience="estante", issuer="estante-auth"
    )
    assert claims["exp"] - claims["iat"] == 900
    assert claims["nbf"] <= claims["iat"] + 1
    assert claims["roles"] == ["librarian"]
    assert claims["sub"].isdigit()
    assert {"jti", "username"} <= set(claims)


@pytest.mark.parametrize(
    ("roles", "status"),
    [(["reader"], 403), ([], 403), ("librarian", 403), (["librarian"], 201), (["admin"], 201)],
)
def test_writes_need_a_writer_role(stack: Stack, roles: Any, status: int) -> None:
    before = stack.list_books()
    token = sign_with_service_key(stack, good_claims(roles=roles))
    response = requests.post(
        f"{stack.books_url}/books?allow_duplicate=true",
        json={"title": "role check", "author": "x"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == status, response.text
    if status == 403:
        assert response.headers["Content-Type"] == "application/problem+json"
        assert stack.list_books() == before
