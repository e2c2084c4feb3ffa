"""The Books Service's memory of verified tokens: a token it has verified is not verified again
until its ``exp``, but it is still refused the moment the revocation list names it, once it
expires, and once its key is no longer published; and the memory stays bounded."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import time_machine
from flask.testing import FlaskClient

from auth_service.keys import KeyRing
from books_service.app import create_app, prepare
from books_service.config import BooksSettings
from books_service.jwks import JwksCache
from books_service.revocations import RevocationCache
from common.tokens import VerifiedTokens


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def claims(exp: float, sub: str = "1") -> dict[str, Any]:
    return {"sub": sub, "exp": exp}


def test_a_verified_token_is_remembered_until_its_expiry_and_not_a_moment_longer() -> None:
    clock = FakeClock()
    tokens = VerifiedTokens(clock=clock)
    tokens.put("a.b.c", {"kid": "k"}, claims(exp=1060), "key")
    assert tokens.get("a.b.c") == ({"kid": "k"}, claims(exp=1060), "key")
    assert tokens.get("a.b.d") is None
    clock.now = 1059.9
    assert tokens.get("a.b.c") is not None
    clock.now = 1060
    assert tokens.get("a.b.c") is None
    assert len(tokens) == 0


def test_a_token_past_its_expiry_is_never_remembered() -> None:
    clock = FakeClock()
    tokens = VerifiedTokens(clock=clock)
    tokens.put("a.b.c", {}, claims(exp=999), "key")  # accepted within the leeway, say
    assert tokens.get("a.b.c") is None and len(tokens) == 0


def test_the_memory_is_bounded_and_forgets_the_oldest_first() -> None:
    tokens = VerifiedTokens(max_entries=3, clock=FakeClock())
    for n in range(10):
        tokens.put(f"token-{n}", {}, claims(exp=5000), "key")
    assert len(tokens) == 3
    assert [tokens.get(f"token-{n}") is not None for n in range(10)] == [False] * 7 + [True] * 3


@dataclass
class Books:
    client: FlaskClient
    ring: KeyRing
    revocations: dict[str, Any]
    published: dict[str, Any]
    jwks_clock: FakeClock

    def token(self, *, lifetime: int = 900, sid: str | None = None) -> str:
        now = int(time.time())
        key = self.ring.active
        return jwt.encode(
            {
                "iss": "estante-auth",
                "aud": "estante",
                "sub": "7",
                "username": "ana",
                "roles": ["librarian"],
                "iat": now,
                "nbf": now,
                "exp": now + lifetime,
                "jti": uuid.uuid4().hex,
                "sid": sid or uuid.uuid4().hex,
                "type": "access",
            },
            key.private_pem,
            algorithm="EdDSA",
            headers={"kid": key.kid, "typ": "at+jwt"},
        )

    def write(self, token: str) -> Any:
        return self.client.post(
            "/books?allow_duplicate=true",
            json={"title": "Memória", "author": "Ana"},
            headers={"Authorization": f"Bearer {token}"},
        )


@pytest.fixture
def books(tmp_path: Path) -> Iterator[Books]:
    settings = BooksSettings(data_dir=tmp_path, jwks_url="http://127.0.0.1:9/.well-known/jwks.json")
    ring = KeyRing.ensure(tmp_path / "keys")
    prepare(settings)
    app = create_app(settings)
    published = {"jwks": ring.jwks()}
    jwks_clock = FakeClock()
    app.extensions["estante.jwks"] = JwksCache(
        "x", max_age=300, cooldown=0, clock=jwks_clock, fetch=lambda _u, _t: published["jwks"]
    )
    revocations: dict[str, Any] = {"issued_at": 1, "grace": 180, "users": {}, "sessions": []}
    # Asked on every check, as the revocation list is once it is due.
    app.extensions["estante.revocations"] = RevocationCache(
        "x", max_age=0, fetch=lambda _url, _timeout: revocations
    )
    yield Books(app.test_client(), ring, revocations, published, jwks_clock)
    app.extensions["estante.db"].dispose()


def test_a_remembered_token_is_refused_as_soon_as_its_session_is_revoked(books: Books) -> None:
    token = books.token(sid="session-1")
    assert books.write(token).status_code == 201
    assert books.write(token).status_code == 201  # from the memory
    books.revocations["sessions"].append("session-1")
    refused = books.write(token)
    assert refused.status_code == 401
    assert refused.get_json()["detail"] == "The token has been revoked."
    books.revocations["sessions"].clear()
    assert books.write(token).status_code == 201


def test_a_remembered_token_is_refused_as_soon_as_its_user_is_revoked(books: Books) -> None:
    token = books.token()
    assert books.write(token).status_code == 201
    books.revocations["users"]["7"] = int(time.time()) + 1
    assert books.write(token).status_code == 401


def test_a_remembered_token_is_refused_once_it_expires(books: Books) -> None:
    token = books.token(lifetime=60)
    assert books.write(token).status_code == 201
    with time_machine.travel(time.time() + 60 + 6, tick=False):  # past exp and the leeway
        refused = books.write(token)
    assert refused.status_code == 401
    assert "expired" in refused.get_json()["detail"]


def test_a_remembered_token_is_refused_once_its_key_is_no_longer_published(
    books: Books, tmp_path: Path
) -> None:
    token = books.token()
    assert books.write(token).status_code == 201
    books.published["jwks"] = KeyRing.ensure(tmp_path / "other-keys").jwks()
    books.jwks_clock.now += 301  # the published keys are fetched again
    refused = books.write(token)
    assert refused.status_code == 401
    assert refused.get_json()["detail"] == "The token is invalid."
