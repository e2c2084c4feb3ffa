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
from tests.support.harness import Stack
from tests.support.tokens import good_claims, sign_with_service_key


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


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
    "roles not a list": lambda s, _t: sign_with_service_key(s, good_claims(roles="librarian")),
}

# Signed by the service's key but not what an access token is (RFC 9068 §4, RFC 8725 §3.11):
# refused by the Books Service, /validate, /introspect and /me alike. Each is built on the
# claims of a real user (``sub``), so only the one thing named is wrong.
NOT_ACCESS_TOKENS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "typ JWT": ({}, {"typ": "JWT"}),
    "typ refresh+jwt": ({}, {"typ": "refresh+jwt"}),
    "no typ": ({}, {"typ": None}),
    "no nbf": ({"nbf": None}, {}),
    "no jti": ({"jti": None}, {}),
    "empty jti": ({"jti": ""}, {}),
    "jti not a string": ({"jti": 12345}, {}),
    "no type claim": ({"type": None}, {}),
    "no username": ({"username": None}, {}),
    "username of 100k characters": ({"username": "m" * 100_000}, {}),
    "username with NUL": ({"username": "mal\u0000lory"}, {}),
    "username not normalised": ({"username": " mallory"}, {}),
    "username with a space": ({"username": "mal lory"}, {}),
    "sub not a user id": ({"sub": "admin"}, {}),
    "a thousand roles": ({"roles": ["librarian"] * 1000}, {}),
    "no roles": ({"roles": None}, {}),
    "nbf not a number": ({"nbf": "now"}, {}),
    "session id too long": ({"sid": "s" * 100}, {}),
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


def real_user_claims(real_token: str, **overrides: Any) -> dict[str, Any]:
    claims = jwt.decode(real_token, options={"verify_signature": False})
    base = {"sub": claims["sub"], "username": "forged-ok", "roles": ["librarian"]}
    return good_claims(**{**base, **overrides})


def judged_everywhere(stack: Stack, token: str) -> tuple[int, bool, bool, int]:
    """(books write status, /validate active, /introspect active, /me status)."""
    headers = {"Authorization": f"Bearer {token}"}
    write = requests.post(
        f"{stack.books_url}/books?allow_duplicate=true",
        json={"title": "judged", "author": "x"},
        headers=headers,
        timeout=10,
    )
    validate = requests.post(f"{stack.auth_url}/validate", json={"token": token}, timeout=10)
    introspect = requests.post(f"{stack.auth_url}/introspect", data={"token": token}, timeout=10)
    me = requests.get(f"{stack.auth_url}/me", headers=headers, timeout=10)
    return (
        write.status_code,
        validate.json()["active"],
        introspect.json()["active"],
        me.status_code,
    )


def test_a_good_token_signed_by_the_service_key_works(stack: Stack, real_token: str) -> None:
    # The forgeries here differ from this one only in what they break: the checks are real.
    token = sign_with_service_key(stack, real_user_claims(real_token))
    assert judged_everywhere(stack, token) == (201, True, True, 200)
    book = stack.add_book(token, title="signed by the real key")
    assert book["created_by"] == "forged-ok"
    # The media type is compared ignoring case, and may carry its "application/" (RFC 7515).
    for typ in ("AT+JWT", "application/at+jwt"):
        token = sign_with_service_key(stack, real_user_claims(real_token), typ=typ)
        assert judged_everywhere(stack, token) == (201, True, True, 200), typ


@pytest.mark.parametrize("name", ["...", "-_-", "___"])
def test_names_registered_under_an_older_rule_keep_working(
    stack: Stack, real_token: str, name: str
) -> None:
    # Names of punctuation alone registered before the "at least one letter or digit" rule;
    # their owners still log in, and their tokens must be accepted everywhere.
    token = sign_with_service_key(stack, real_user_claims(real_token, username=name))
    assert judged_everywhere(stack, token) == (201, True, True, 200)


@pytest.mark.parametrize("sub", ["9" * 19, "2147483648", "0"])
def test_a_subject_no_user_can_have_names_nobody(stack: Stack, real_token: str, sub: str) -> None:
    # Well formed (1 to 19 digits) but beyond any 32-bit user id: the Auth Service finds no
    # such user (it never asks the database, which would fail on the number), the Books
    # Service, which has no users, accepts what the key signed.
    token = sign_with_service_key(stack, real_user_claims(real_token, sub=sub))
    assert judged_everywhere(stack, token) == (201, False, False, 401)


@pytest.mark.parametrize("kind", list(NOT_ACCESS_TOKENS))
def test_tokens_that_are_not_access_tokens_are_refused_everywhere(
    stack: Stack, real_token: str, kind: str
) -> None:
    before = stack.list_books()
    overrides, header = NOT_ACCESS_TOKENS[kind]
    token = sign_with_service_key(stack, real_user_claims(real_token, **overrides), **header)
    assert judged_everywhere(stack, token) == (401, False, False, 401)
    assert stack.list_books() == before


def test_a_tokens_username_is_a_registrable_name(stack: Stack) -> None:
    # Names in scripts with combining marks register, log in and sign their books...
    for base in ("नमस्ते", "தமிழ்"):
        name = f"{base}{uuid.uuid4().hex[:6]}"
        token = stack.register(name)["access_token"]
        assert jwt.decode(token, options={"verify_signature": False})["username"] == name
        assert stack.add_book(token, title=f"by {base}")["created_by"] == name
    # ...names without a letter or digit do not.
    for name in ("...", "-_-", "_._"):
        response = requests.post(
            f"{stack.auth_url}/register",
            json={"username": name, "password": "correct horse battery staple"},
            timeout=10,
        )
        assert response.status_code == 422
        assert "at least one letter or digit" in response.json()["detail"]


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(stack: Stack, real_token: str, scheme: str) -> None:
    headers = {"Authorization": f"{scheme} {real_token}"}
    write = requests.post(
        f"{stack.books_url}/books?allow_duplicate=true",
        json={"title": "lower-case scheme", "author": "x"},
        headers=headers,
        timeout=10,
    )
    assert write.status_code == 201, write.text
    assert requests.get(f"{stack.auth_url}/me", headers=headers, timeout=10).status_code == 200
    validate = requests.post(f"{stack.auth_url}/validate", headers=headers, timeout=10)
    assert validate.json()["active"] is True


def test_a_little_clock_skew_is_tolerated(stack: Stack, real_token: str) -> None:
    # An issuer whose clock runs 3 s ahead makes tokens "not valid yet" for 3 s here; the
    # leeway (JWT_LEEWAY_SECONDS, 5 s by default) accepts them. Further off is refused.
    now = int(time.time())
    ahead = sign_with_service_key(stack, real_user_claims(real_token, iat=now + 3, nbf=now + 3))
    assert judged_everywhere(stack, ahead) == (201, True, True, 200)
    far_ahead = real_user_claims(real_token, iat=now + 60, nbf=now + 60)
    assert judged_everywhere(stack, sign_with_service_key(stack, far_ahead)) == (
        401,
        False,
        False,
        401,
    )
    # Expired a moment ago is still within the leeway; a minute ago is not.
    just_expired = real_user_claims(real_token, iat=now - 900, nbf=now - 900, exp=now - 2)
    assert judged_everywhere(stack, sign_with_service_key(stack, just_expired))[0] == 201
    expired = real_user_claims(real_token, iat=now - 960, nbf=now - 960, exp=now - 60)
    assert judged_everywhere(stack, sign_with_service_key(stack, expired)) == (
        401,
        False,
        False,
        401,
    )


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
    [(["reader"], 403), ([], 403), (["guest"], 403), (["librarian"], 201), (["admin"], 201)],
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
