"""Expiry rules, tested by moving the clock instead of sleeping.

Both services run in this process on a real SQLite file; the only thing replaced is the HTTP
hop from the books service to the auth service's JWKS, which goes through the auth app's own
test client. ``time_machine`` moves every clock the code reads (ours, PyJWT's, the libraries').
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import time_machine
from flask.testing import FlaskClient

from auth_service.app import create_app as create_auth_app
from auth_service.app import prepare as prepare_auth
from auth_service.config import AuthSettings
from auth_service.keys import KeyRing, RotationPolicy, generate_key
from books_service.app import create_app as create_books_app
from books_service.app import prepare as prepare_books
from books_service.config import BooksSettings
from books_service.jwks import JwksCache

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


@dataclass
class Services:
    auth: FlaskClient
    books: FlaskClient
    clock: Any

    def register(self, username: str = "traveller") -> dict[str, Any]:
        response = self.auth.post("/register", json={"username": username, "password": PASSWORD})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def refresh(self, token: str) -> Any:
        return self.auth.post("/token/refresh", json={"refresh_token": token})

    def active(self, token: str) -> bool:
        return self.auth.post("/validate", json={"token": token}).get_json()["active"]

    def write(self, access_token: str) -> int:
        return self.books.post(
            "/books?allow_duplicate=true",
            json={"title": "t", "author": "a"},
            headers={"Authorization": f"Bearer {access_token}"},
        ).status_code

    def login(self, username: str, password: str) -> Any:
        return self.auth.post("/login", json={"username": username, "password": password})


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with time_machine.travel(START, tick=False) as clock:
        auth_settings = AuthSettings(
            data_dir=tmp_path,
            argon2_memory_kib=8192,
            rate_limits_enabled=False,
            keys_reload_seconds=0,
        )
        prepare_auth(auth_settings)
        auth_app = create_auth_app(auth_settings)
        books_settings = BooksSettings(data_dir=tmp_path)
        prepare_books(books_settings)
        books_app = create_books_app(books_settings)
        auth = auth_app.test_client()
        books_app.extensions["estante.jwks"] = JwksCache(
            "in-process", fetch=lambda _url, _timeout: auth.get("/.well-known/jwks.json").get_json()
        )
        yield Services(auth, books_app.test_client(), clock)


def test_an_access_token_lives_exactly_its_lifetime(services: Services) -> None:
    tokens = services.register()
    services.clock.shift(timedelta(minutes=14, seconds=59))
    assert services.write(tokens["access_token"]) == 201
    assert services.active(tokens["access_token"])
    services.clock.shift(timedelta(seconds=2))
    response = services.books.post(
        "/books?allow_duplicate=true",
        json={"title": "t", "author": "a"},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert response.status_code == 401
    assert "expired" in response.get_json()["detail"]
    assert not services.active(tokens["access_token"])
    assert (
        services.auth.get(
            "/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        ).status_code
        == 401
    )


def test_a_refresh_token_expires_after_fourteen_days(services: Services) -> None:
    tokens = services.register()
    services.clock.shift(timedelta(days=14, seconds=1))
    assert services.refresh(tokens["refresh_token"]).status_code == 401
    assert not services.active(tokens["refresh_token"])


def test_refreshing_keeps_a_session_alive_but_never_past_its_cap(services: Services) -> None:
    token = services.register()["refresh_token"]
    for _ in range(8):  # day 10, 20, ... 80: each refresh just in time
        services.clock.shift(timedelta(days=10))
        response = services.refresh(token)
        assert response.status_code == 200
        token = response.get_json()["refresh_token"]
    assert 0 < response.get_json()["refresh_expires_in"] <= 10 * 86400  # capped at day 90
    services.clock.shift(timedelta(days=10, seconds=1))  # day 90 + 1 s
    assert services.refresh(token).status_code == 401


def test_reuse_after_the_grace_period_revokes_the_session(services: Services) -> None:
    first = services.register()
    second = services.refresh(first["refresh_token"]).get_json()
    services.clock.shift(timedelta(seconds=9))
    retried = services.refresh(first["refresh_token"])  # within the 10 s grace: a retry
    assert retried.status_code == 200
    services.clock.shift(timedelta(seconds=2))  # 11 s after the rotation: reuse
    assert services.refresh(first["refresh_token"]).status_code == 401
    assert services.refresh(retried.get_json()["refresh_token"]).status_code == 401
    assert not services.active(second["access_token"])


def test_login_delays_grow_and_are_forgotten(services: Services) -> None:
    services.register("target")
    statuses = [services.login("target", "wrong guess").status_code for _ in range(5)]
    assert statuses == [401] * 5
    waits = []
    for _ in range(4):
        blocked = services.login("target", PASSWORD)
        assert blocked.status_code == 429
        waits.append(int(blocked.headers["Retry-After"]))
        services.clock.shift(timedelta(seconds=waits[-1]))
        assert services.login("target", "wrong guess").status_code == 401
    assert waits == [1, 2, 4, 8]
    # After the window, the counter starts from zero: five free attempts again.
    services.clock.shift(timedelta(minutes=16))
    assert [services.login("target", "wrong").status_code for _ in range(5)] == [401] * 5
    services.clock.shift(timedelta(seconds=1))
    assert services.login("target", "wrong").status_code == 401  # 6th after 1 s block


def test_login_delay_is_capped(services: Services) -> None:
    services.register("capped")
    for _ in range(30):
        response = services.login("capped", "wrong")
        if response.status_code == 429:
            wait = int(response.headers["Retry-After"])
            assert wait <= 900
            services.clock.shift(timedelta(seconds=wait))
    services.clock.shift(timedelta(seconds=900))
    assert services.login("capped", PASSWORD).status_code == 200


def test_keys_are_published_before_they_sign_and_retired_after_their_tokens(
    tmp_path: Path,
) -> None:
    policy = RotationPolicy(
        activation_delay=timedelta(seconds=60), retire_after=timedelta(seconds=960)
    )
    with time_machine.travel(START, tick=False) as clock:
        old = generate_key(tmp_path)
        clock.shift(timedelta(days=1))
        new = generate_key(tmp_path)
        ring = KeyRing.load(tmp_path, policy)
        old_kid, new_kid = (KeyRing.load(tmp_path, policy).keys[i].kid for i in (0, 1))
        assert ring.active.kid == old_kid  # the new key is only published for now
        assert {k["kid"] for k in ring.jwks()["keys"]} == {old_kid, new_kid}
        clock.shift(timedelta(seconds=60))
        assert ring.active.kid == new_kid
        assert ring.by_kid(old_kid) is not None  # tokens signed a moment ago still verify
        clock.shift(timedelta(seconds=959))
        assert ring.by_kid(old_kid) is not None
        clock.shift(timedelta(seconds=2))
        assert ring.by_kid(old_kid) is None
        assert [k["kid"] for k in ring.jwks()["keys"]] == [new_kid]
        assert ring.retired()[0].path == old
        assert new.exists()


def test_tokens_name_the_key_that_signed_them(services: Services) -> None:
    token = services.register()["access_token"]
    jwks = services.auth.get("/.well-known/jwks.json").get_json()
    header = jwt.get_unverified_header(token)
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["EdDSA"], audience="estante", issuer="estante-auth"
    )
