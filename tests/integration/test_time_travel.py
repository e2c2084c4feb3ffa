"""Expiry rules, tested by moving the clock instead of sleeping.

Both services run in this process on a real SQLite file; the only thing replaced is the HTTP
hop from the books service to the auth service's JWKS, which goes through the auth app's own
test client. ``time_machine`` moves every clock the code reads (ours, PyJWT's, the libraries').
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select

from auth_service import accounts, key_commands
from auth_service.app import create_app as create_auth_app
from auth_service.app import prepare as prepare_auth
from auth_service.config import AuthSettings
from auth_service.keys import KeyRing, RotationPolicy, generate_key, key_files
from auth_service.models import TokenRevocation
from auth_service.revocations import GRACE
from books_service.app import create_app as create_books_app
from books_service.app import prepare as prepare_books
from books_service.config import BooksSettings
from books_service.jwks import JwksCache
from books_service.revocations import RevocationCache
from common.db import Database
from tests.support.clients import bearer

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
LEEWAY = 5  # JWT_LEEWAY_SECONDS, set explicitly on both services
HOME = "10.0.0.1"  # where the test users register from (a known client of their accounts)


@dataclass
class Services:
    auth: FlaskClient
    books: FlaskClient
    clock: Any
    keys_dir: Path

    def register(self, username: str = "traveller") -> dict[str, Any]:
        response = self.auth.post(
            "/register",
            json={"username": username, "password": PASSWORD},
            environ_base={"REMOTE_ADDR": HOME},
        )
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

    def login(self, username: str, password: str, address: str = HOME) -> Any:
        return self.auth.post(
            "/login",
            json={"username": username, "password": password},
            environ_base={"REMOTE_ADDR": address},
        )

    def revocations(self) -> dict[str, Any]:
        return self.auth.get("/.well-known/revocations.json").get_json()

    def jwks_kids(self) -> set[str]:
        return {k["kid"] for k in self.auth.get("/.well-known/jwks.json").get_json()["keys"]}


def auth_settings_in(data_dir: Path, **overrides: Any) -> AuthSettings:
    """The Auth Service's settings in these tests (cheap hashes, no rate limits)."""
    return AuthSettings(
        data_dir=data_dir,
        argon2_memory_kib=8192,
        rate_limits_enabled=False,
        keys_reload_seconds=0,
        jwt_leeway=LEEWAY,
        **overrides,
    )


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with time_machine.travel(START, tick=False) as clock:
        auth_settings = auth_settings_in(tmp_path)
        prepare_auth(auth_settings)
        auth_app = create_auth_app(auth_settings)
        books_settings = BooksSettings(data_dir=tmp_path, jwt_leeway=LEEWAY)
        prepare_books(books_settings)
        books_app = create_books_app(books_settings)
        auth = auth_app.test_client()
        books_app.extensions["estante.jwks"] = JwksCache(
            "in-process",
            fetch=lambda _url, _timeout: auth.get("/.well-known/jwks.json").get_json(),
            clock=time.time,  # the travelling clock: its max age passes as the test moves on
        )
        # The revocation list too comes from the in-process auth service, never from a port.
        books_app.extensions["estante.revocations"] = RevocationCache(
            "in-process",
            fetch=lambda _url, _timeout: auth.get("/.well-known/revocations.json").get_json(),
            clock=time.time,
        )
        yield Services(auth, books_app.test_client(), clock, auth_settings.signing_keys_dir)


def test_an_access_token_lives_exactly_its_lifetime(services: Services) -> None:
    tokens = services.register()
    # 15 minutes, and the leeway allowed for verifiers' clocks, not a second more.
    services.clock.shift(timedelta(minutes=15, seconds=LEEWAY - 1))
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
    assert [services.login("capped", "wrong").status_code for _ in range(5)] == [401] * 5
    waits = []
    for _ in range(15):
        blocked = services.login("capped", "wrong")
        assert blocked.status_code == 429
        waits.append(int(blocked.headers["Retry-After"]))
        services.clock.shift(timedelta(seconds=waits[-1]))
        # One more failure the moment the block ends: the delay doubles, up to the cap.
        assert services.login("capped", "wrong").status_code == 401
    assert waits == [2**n for n in range(10)] + [900] * 5  # 1 s … 512 s, then 15 min
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


def test_many_addresses_guessing_one_name_are_throttled_by_name(services: Services) -> None:
    services.register("alice")
    # Three guesses from each of eight addresses: no (name, address) pair reaches its 5 free
    # failures, but the name reaches its 15.
    statuses = [
        services.login("alice", f"guess {i}", f"10.1.0.{i // 3}").status_code for i in range(24)
    ]
    assert statuses == [401] * 15 + [429] * 9
    # The owner, from an address they have used, is not held up by the strangers...
    assert services.login("alice", PASSWORD).status_code == 200
    # ...while a new address (a stranger, or the owner on a new device) waits out the block.
    blocked = services.login("alice", PASSWORD, "10.2.0.1")
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "1"
    services.clock.shift(timedelta(seconds=1))
    assert services.login("alice", PASSWORD, "10.2.0.1").status_code == 200


def test_a_stranger_keeps_new_addresses_out_but_not_known_ones(services: Services) -> None:
    services.register("bob")
    for i in range(15):
        assert services.login("bob", "guess", f"10.5.{i}.1").status_code == 401
    waits = []
    for round_ in range(12):
        # The stranger fails again the moment each block ends, from yet another address...
        blocked = services.login("bob", "guess", f"10.6.{round_}.1")
        assert blocked.status_code == 429
        waits.append(int(blocked.headers["Retry-After"]))
        # ...the owner logs in from home all the while, but not from a new address (a new
        # phone, a changed mobile address), which is refused until the block ends...
        assert services.login("bob", PASSWORD).status_code == 200
        assert services.login("bob", PASSWORD, f"10.9.{round_}.1").status_code == 429
        services.clock.shift(timedelta(seconds=waits[-1]))
        # ...and only for a moment: one failure the stranger makes then blocks it again.
        assert services.login("bob", "guess", f"10.7.{round_}.1").status_code == 401
    # For new addresses the wait doubles, up to the cap, and lasts as long as the stranger
    # goes on: one failure per 15 minutes keeps them out. It ends when the stranger stops.
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert services.login("bob", PASSWORD, "10.8.0.1").status_code == 429
    services.clock.shift(timedelta(seconds=900))
    assert services.login("bob", PASSWORD, "10.8.0.1").status_code == 200


def test_a_guesser_behind_a_known_shared_address_gets_fresh_guesses_after_each_login(
    services: Services,
) -> None:
    # Behind a NAT the owner uses, a guesser is judged by the pair (name, address) alone,
    # like the owner: and each login of the owner clears the pair.
    shared = "10.3.0.9"
    services.register("carol")
    assert services.login("carol", PASSWORD, shared).status_code == 200  # a known client
    for _ in range(3):
        assert [services.login("carol", "guess", shared).status_code for _ in range(5)] == (
            [401] * 5
        )
        assert services.login("carol", "guess", shared).status_code == 429  # the pair's block
        services.clock.shift(timedelta(seconds=1))
        assert services.login("carol", PASSWORD, shared).status_code == 200  # clears it


def test_a_shared_address_keeps_its_known_users_in(services: Services) -> None:
    shared = "10.3.0.1"  # a NAT: one address, many people
    services.register("regular")
    assert services.login("regular", PASSWORD, shared).status_code == 200
    services.register("newcomer")  # has never logged in from the shared address
    # Someone behind it tries 20 names, none five times: the address is blocked...
    names = [f"guess_{i}" for i in range(20)]
    assert [services.login(name, "wrong", shared).status_code for name in names] == [401] * 20
    assert services.login("someone_else", "wrong", shared).status_code == 429
    # ...but not for an account that has logged in from there before.
    assert services.login("regular", PASSWORD, shared).status_code == 200
    # Someone new to the address waits out the block (1 s at first, 15 min at most).
    blocked = services.login("newcomer", PASSWORD, shared)
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "1"
    services.clock.shift(timedelta(seconds=1))
    assert services.login("newcomer", PASSWORD, shared).status_code == 200


def test_wrong_current_passwords_are_throttled_like_failed_logins(services: Services) -> None:
    tokens = services.register("changer")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}

    def change(current: str) -> Any:
        return services.auth.post(
            "/me/password",
            json={"current_password": current, "new_password": "a brand new secret"},
            headers=headers,
            environ_base={"REMOTE_ADDR": HOME},
        )

    assert [change(f"guess {i}").status_code for i in range(5)] == [401] * 5
    blocked = change(PASSWORD)  # even the right one: a blocked caller is not heard
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "1"
    assert blocked.get_json()["type"] == "/problems/too-many-login-attempts"
    # One throttle for every password check: logging in is blocked too.
    assert services.login("changer", PASSWORD).status_code == 429
    services.clock.shift(timedelta(seconds=1))
    assert change(PASSWORD).status_code == 204


def test_parallel_guesses_cannot_outrun_the_throttle(services: Services) -> None:
    services.register("raced")
    app = services.auth.application
    statuses: list[int] = []
    start = threading.Barrier(16)

    def guess(i: int) -> None:
        client = app.test_client()
        start.wait()
        response = client.post(
            "/login",
            json={"username": "raced", "password": f"guess {i}"},
            environ_base={"REMOTE_ADDR": "10.4.0.1"},
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The clock stands still: exactly the five free failures get a password check.
    assert sorted(statuses) == [401] * 5 + [429] * 11


def test_a_retired_key_leaves_the_jwks_and_stops_verifying(services: Services) -> None:
    user = services.register("keyholder")
    old_kid = jwt.get_unverified_header(user["access_token"])["kid"]
    services.clock.shift(timedelta(hours=1))
    generate_key(services.keys_dir)  # what 'python -m auth_service.key_commands rotate' does
    (new_kid,) = services.jwks_kids() - {old_kid}  # published at once...
    services.clock.shift(timedelta(seconds=59))
    last_old = services.login("keyholder", PASSWORD).get_json()["access_token"]
    assert jwt.get_unverified_header(last_old)["kid"] == old_kid  # ...signing a minute later
    services.clock.shift(timedelta(seconds=1))
    first_new = services.login("keyholder", PASSWORD).get_json()["access_token"]
    assert jwt.get_unverified_header(first_new)["kid"] == new_kid
    # The old key's last token (a second old) lives its whole lifetime and leeway, everywhere.
    services.clock.shift(timedelta(seconds=900 + LEEWAY - 2))
    assert services.jwks_kids() == {old_kid, new_kid}
    assert services.active(last_old)
    assert services.write(last_old) == 201
    # A minute after that the old key is retired from the JWKS...
    services.clock.shift(timedelta(seconds=63))
    assert services.jwks_kids() == {new_kid}
    # ...and a token it signs (here a fresh one, as a thief of the old key could make) is
    # refused: by the auth service at once, by the books service once its cached copy of the
    # JWKS is older than JWKS_MAX_AGE_SECONDS (300) and it fetches the new one.
    old_key = next(k for k in KeyRing.load(services.keys_dir).keys if k.kid == old_kid)

    def signed_by_old_key() -> str:
        now = int(time.time())
        claims = jwt.decode(last_old, options={"verify_signature": False})
        claims.update(iat=now, nbf=now, exp=now + 600, jti=uuid.uuid4().hex)
        return jwt.encode(
            claims,
            old_key.private_pem,
            algorithm="EdDSA",
            headers={"kid": old_kid, "typ": "at+jwt"},
        )

    assert not services.active(signed_by_old_key())
    services.clock.shift(timedelta(seconds=301))
    assert services.write(signed_by_old_key()) == 401
    current = services.login("keyholder", PASSWORD).get_json()["access_token"]
    assert services.write(current) == 201


def test_key_files_are_moved_only_when_no_configuration_could_still_publish_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shell running 'keys prune' may not share the service's settings: here it says 30 s
    # tokens and no activation delay, while the service may sign day-long tokens.
    monkeypatch.setenv("ACCESS_TOKEN_TTL_SECONDS", "30")
    monkeypatch.setenv("KEY_ACTIVATION_DELAY_SECONDS", "0")
    with time_machine.travel(START, tick=False) as clock:
        old = generate_key(tmp_path)
        clock.shift(timedelta(days=1))
        generate_key(tmp_path)
        clock.shift(timedelta(hours=2))  # long retired for 30 s tokens, not for day-long ones
        key_commands.main(["prune", "--dir", str(tmp_path)])
        assert old.exists()
        clock.shift(timedelta(days=2))  # past the longest lifetime and delay allowed
        key_commands.main(["prune", "--dir", str(tmp_path)])
        assert not old.exists()
        assert (tmp_path / "retired" / old.name).exists()
        assert len(key_files(tmp_path)) == 1


def wait_with_a_change_midway(
    services: Services, monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]
) -> None:
    """The next wait of the auth service (issuing waits out the second after a revocation)
    moves the clock instead of sleeping, and ``change`` happens 0.3 s into it."""
    done: list[bool] = []

    def travel(seconds: float) -> None:
        if done:
            services.clock.shift(timedelta(seconds=seconds))
            return
        done.append(True)
        services.clock.shift(timedelta(seconds=0.3))
        change()
        services.clock.shift(timedelta(seconds=max(0.0, seconds - 0.3)))

    monkeypatch.setattr(time, "sleep", travel)


def another_administrator(services: Services) -> Database:
    """The auth database, with an administrator (so that the test's user may stop being one)."""
    app = services.auth.application
    db = app.extensions["estante.db"]
    accounts.ensure_admin(db, app.extensions["estante.hasher"], "boss", PASSWORD)
    return db


def test_a_user_disabled_while_a_refresh_waits_gets_no_working_token(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = services.register("waiter")
    uid = tokens["user"]["id"]
    db = another_administrator(services)
    services.clock.shift(timedelta(seconds=10.1))
    # A role change: the sessions go on, but tokens issued before 10.1 are refused, so a
    # token issued within that second would be born revoked: issuing waits for second 11.
    accounts.update_user(db, uid, role="admin")
    services.clock.shift(timedelta(seconds=0.1))
    # While the refresh waits, at 10.5, the user is disabled: their sessions end, and tokens
    # issued before second 11 are refused. A token signed at 11.001 has iat 11.
    wait_with_a_change_midway(
        services, monkeypatch, lambda: accounts.update_user(db, uid, disabled=True)
    )
    refreshed = services.refresh(tokens["refresh_token"])
    if refreshed.status_code == 200:  # a token, signed after the disable: refused everywhere
        token = refreshed.get_json()["access_token"]
        assert services.write(token) == 401
        assert not services.active(token)
    assert refreshed.status_code == 401
    listed = services.auth.get("/.well-known/revocations.json").get_json()
    assert (
        jwt.decode(tokens["access_token"], options={"verify_signature": False})["sid"]
        in (listed["sessions"])
    )


def test_a_role_changed_while_a_refresh_waits_is_the_role_it_gets(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = services.register("promoted")
    uid = tokens["user"]["id"]
    db = another_administrator(services)
    services.clock.shift(timedelta(seconds=10.1))
    accounts.update_user(db, uid, role="admin")
    services.clock.shift(timedelta(seconds=0.1))
    # Demoted to reader at 10.5, while the refresh waits for second 11: the token it then
    # signs must carry the new role, not the one read before the wait.
    wait_with_a_change_midway(
        services, monkeypatch, lambda: accounts.update_user(db, uid, role="reader")
    )
    refreshed = services.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200
    token = refreshed.get_json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["roles"] == ["reader"]
    assert refreshed.get_json()["user"]["roles"] == ["reader"]
    assert services.write(token) == 403
    assert services.active(token)


def test_issuing_never_waits_in_a_transaction_nor_for_ever(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = services.register("impatient")
    uid = tokens["user"]["id"]
    db = another_administrator(services)
    services.clock.shift(timedelta(seconds=10.1))
    accounts.update_user(db, uid, role="admin")  # tokens issued before second 11 are refused
    waits: list[float] = []

    def stand_still(seconds: float) -> None:
        # Nothing is locked while issuing waits: another write goes through meanwhile.
        accounts.set_default_role(db, "librarian")
        waits.append(seconds)

    monkeypatch.setattr(time, "sleep", stand_still)  # ...and the clock stands still
    stuck = services.refresh(tokens["refresh_token"])
    assert stuck.status_code == 503 and stuck.headers["Retry-After"] == "1"
    assert len(waits) == 2 and all(0.9 < wait < 0.91 for wait in waits)  # to second 11
    # Nothing was spent: once the second has passed, the same refresh token works.
    services.clock.shift(timedelta(seconds=0.9))
    refreshed = services.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200
    claims = jwt.decode(refreshed.get_json()["access_token"], options={"verify_signature": False})
    assert claims["iat"] == START.timestamp() + 11 and claims["roles"] == ["admin"]
    assert services.write(refreshed.get_json()["access_token"]) == 201


def two_hour_replica(services: Services) -> FlaskClient:
    """A replica signing two-hour tokens (or this one, before its lifetime was lowered to the
    15 minutes the other replica has)."""
    return create_auth_app(
        auth_settings_in(services.keys_dir.parent, access_token_ttl=7200)
    ).test_client()


def test_a_revocation_outlives_tokens_issued_under_a_longer_lifetime(services: Services) -> None:
    # The session starts at a two-hour replica and is ended through the other one.
    long_lived = two_hour_replica(services)
    tokens = long_lived.post(
        "/register", json={"username": "longlived", "password": PASSWORD}
    ).get_json()
    token = tokens["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 7200
    # The session goes on at the 15-minute replica: its newest token expires first.
    services.clock.shift(timedelta(minutes=1))
    refreshed = services.refresh(tokens["refresh_token"]).get_json()
    assert refreshed["expires_in"] == 900
    assert (
        services.auth.post(
            "/logout", json={"refresh_token": refreshed["refresh_token"]}
        ).status_code
        == 204
    )
    assert services.write(token) == 401
    # An hour later, long past the publishing replica's own token lifetime.
    services.clock.shift(timedelta(hours=1))
    assert services.write(token) == 401
    assert claims["sid"] in services.revocations()["sessions"]
    # Listed until the token has expired and no verifier's leeway can take it any more...
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    services.clock.move_to(expires + GRACE - timedelta(seconds=1))
    assert claims["sid"] in services.revocations()["sessions"]
    # ...and no longer.
    services.clock.move_to(expires + GRACE + timedelta(seconds=1))
    assert services.revocations()["sessions"] == []


def test_a_revocation_is_listed_only_while_a_token_it_names_can_be_accepted(
    services: Services,
) -> None:
    tokens = services.register("leaver")
    services.clock.shift(timedelta(minutes=5))
    last = services.refresh(tokens["refresh_token"]).get_json()  # the latest expiry: 20 min
    services.clock.shift(timedelta(minutes=1))
    assert (
        services.auth.post("/logout-all", headers=bearer(last["access_token"])).status_code == 204
    )
    claims = jwt.decode(last["access_token"], options={"verify_signature": False})
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    # Past its exp, within the leeway a verifier grants: refused as revoked, not as expired.
    services.clock.move_to(expires + timedelta(seconds=LEEWAY - 1))
    response = services.books.post(
        "/books", json={"title": "t", "author": "a"}, headers=bearer(last["access_token"])
    )
    assert response.status_code == 401
    assert "revoked" in response.get_json()["detail"]
    listed = services.revocations()
    assert claims["sid"] in listed["sessions"] and claims["sub"] in listed["users"]
    assert listed["grace"] == GRACE.total_seconds()
    services.clock.move_to(expires + GRACE - timedelta(seconds=1))
    assert claims["sid"] in services.revocations()["sessions"]
    # Some 20 minutes after the logout, not a day: every token of the user has long expired.
    services.clock.move_to(expires + GRACE + timedelta(seconds=1))
    assert services.revocations() | {"issued_at": 0} == {
        "issued_at": 0,
        "grace": GRACE.total_seconds(),
        "users": {},
        "sessions": [],
    }
    # The next revocation prunes the rows too: the table holds what the list may still need.
    other = services.register("stayer")
    assert (
        services.auth.post("/logout-all", headers=bearer(other["access_token"])).status_code == 204
    )
    with services.auth.application.extensions["estante.db"].read() as session:
        assert set(session.scalars(select(TokenRevocation.user_id))) == {other["user"]["id"]}


def test_a_users_revocation_lasts_as_long_as_their_longest_lived_token(
    services: Services,
) -> None:
    # Two sessions: one at a two-hour replica, the newer one with a 15-minute token. Changing
    # the role revokes every token of the user: listed until the two-hour one has expired.
    long_lived = two_hour_replica(services).post(
        "/register",
        json={"username": "twosessions", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": HOME},
    )
    token = long_lived.get_json()["access_token"]
    services.clock.shift(timedelta(minutes=1))
    assert services.login("twosessions", PASSWORD).status_code == 200
    claims = jwt.decode(token, options={"verify_signature": False})
    accounts.update_user(another_administrator(services), int(claims["sub"]), role="reader")
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    services.clock.move_to(expires - timedelta(minutes=1))
    assert services.write(token) == 401  # revoked (the role it carries is no longer theirs)
    services.clock.move_to(expires + GRACE - timedelta(seconds=1))
    assert claims["sub"] in services.revocations()["users"]
    services.clock.move_to(expires + GRACE + timedelta(seconds=1))
    assert services.revocations()["users"] == {}
