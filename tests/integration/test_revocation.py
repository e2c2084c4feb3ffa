"""Revoked access tokens are refused everywhere, the Books Service included, over real HTTP.

The Books Service verifies tokens locally; it learns of revocations from the auth service's
``/.well-known/revocations.json``, fetched here on every check (REVOCATIONS_MAX_AGE_SECONDS=0)
so the tests need no waiting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import time_machine
from sqlalchemy import select, text

from common.clock import utcnow
from common.config import PROJECT_ROOT
from common.revocation_list import RevocationList, read_revocation_list
from tests.support.clients import bearer, login
from tests.support.harness import STRONG_PASSWORD, Stack, build_stack, free_port, start_stack

ADMIN = "revocation.admin"
ADMIN_PASSWORD = "a long admin passphrase"
NEW_PASSWORD = "another long passphrase"
REVOKED = "The token has been revoked."


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(
        request,
        tmp_path_factory.mktemp(f"revocation-{request.param}"),
        {
            "ESTANTE_ADMIN_USERNAME": ADMIN,
            "ESTANTE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "REVOCATIONS_MAX_AGE_SECONDS": "0",
        },
    )
    yield running
    running.stop()


def write(stack: Stack, token: str) -> requests.Response:
    return requests.post(
        f"{stack.books_url}/books?allow_duplicate=true",
        json={"title": "Revocation", "author": "Tester"},
        headers=bearer(token),
        timeout=10,
    )


def assert_revoked_by_books(stack: Stack, token: str) -> None:
    response = write(stack, token)
    assert response.status_code == 401, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["detail"] == REVOKED


def active(stack: Stack, token: str) -> bool:
    return requests.post(f"{stack.auth_url}/validate", json={"token": token}, timeout=10).json()[
        "active"
    ]


def me(stack: Stack, token: str) -> int:
    return requests.get(f"{stack.auth_url}/me", headers=bearer(token), timeout=10).status_code


def admin(stack: Stack, method: str, path: str, **kw: Any) -> requests.Response:
    token = login(stack, ADMIN, ADMIN_PASSWORD)["access_token"]
    return requests.request(
        method, f"{stack.auth_url}/admin{path}", headers=bearer(token), timeout=10, **kw
    )


def refresh(stack: Stack, refresh_token: str) -> requests.Response:
    return requests.post(
        f"{stack.auth_url}/token/refresh", json={"refresh_token": refresh_token}, timeout=10
    )


def test_logout_revokes_that_session_and_no_other(stack: Stack) -> None:
    first = stack.register()
    second = login(stack, first["user"]["username"])
    assert write(stack, first["access_token"]).status_code == 201
    response = requests.post(
        f"{stack.auth_url}/logout", json={"refresh_token": first["refresh_token"]}, timeout=10
    )
    assert response.status_code == 204
    assert_revoked_by_books(stack, first["access_token"])
    assert not active(stack, first["access_token"])
    assert me(stack, first["access_token"]) == 401
    # The same user's other session goes on.
    assert write(stack, second["access_token"]).status_code == 201
    assert me(stack, second["access_token"]) == 200


def test_logout_all_revokes_every_session(stack: Stack) -> None:
    first = stack.register()
    name = first["user"]["username"]
    second = login(stack, name)
    response = requests.post(
        f"{stack.auth_url}/logout-all", headers=bearer(first["access_token"]), timeout=10
    )
    assert response.status_code == 204
    for tokens in (first, second):
        assert_revoked_by_books(stack, tokens["access_token"])
        assert not active(stack, tokens["access_token"])
        assert refresh(stack, tokens["refresh_token"]).status_code == 401
    # A login right after is a new start, not caught by the revocation.
    assert write(stack, login(stack, name)["access_token"]).status_code == 201


def test_a_password_change_revokes_the_other_sessions(stack: Stack) -> None:
    mine = stack.register()
    other = login(stack, mine["user"]["username"])
    response = requests.post(
        f"{stack.auth_url}/me/password",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(mine["access_token"]),
        timeout=10,
    )
    assert response.status_code == 204, response.text
    assert_revoked_by_books(stack, other["access_token"])
    assert me(stack, other["access_token"]) == 401
    # The session that changed the password keeps working.
    assert write(stack, mine["access_token"]).status_code == 201
    assert me(stack, mine["access_token"]) == 200


def test_disabling_and_deleting_a_user_revoke_their_tokens(stack: Stack) -> None:
    disabled, deleted = stack.register(), stack.register()
    assert write(stack, disabled["access_token"]).status_code == 201
    changed = admin(stack, "PATCH", f"/users/{disabled['user']['id']}", json={"disabled": True})
    assert changed.status_code == 200
    assert_revoked_by_books(stack, disabled["access_token"])
    assert admin(stack, "DELETE", f"/users/{deleted['user']['id']}").status_code == 204
    assert_revoked_by_books(stack, deleted["access_token"])
    # Enabled again, the user logs in anew; the old token stays revoked.
    admin(stack, "PATCH", f"/users/{disabled['user']['id']}", json={"disabled": False})
    fresh = login(stack, disabled["user"]["username"])
    assert write(stack, fresh["access_token"]).status_code == 201
    assert_revoked_by_books(stack, disabled["access_token"])


def test_a_demoted_librarian_can_no_longer_write(stack: Stack) -> None:
    user = stack.register()
    assert write(stack, user["access_token"]).status_code == 201
    changed = admin(stack, "PATCH", f"/users/{user['user']['id']}", json={"role": "reader"})
    assert changed.status_code == 200
    assert_revoked_by_books(stack, user["access_token"])
    for where in ("validate", "introspect"):
        answer = requests.post(
            f"{stack.auth_url}/{where}", json={"token": user["access_token"]}, timeout=10
        )
        assert answer.json() == {"active": False}
    assert me(stack, user["access_token"]) == 401
    # The session goes on: a refresh brings a token with the new role, which may only read.
    renewed = refresh(stack, user["refresh_token"])
    assert renewed.status_code == 200 and renewed.json()["user"]["roles"] == ["reader"]
    assert write(stack, renewed.json()["access_token"]).status_code == 403
    assert me(stack, renewed.json()["access_token"]) == 200


def test_a_demoted_admin_loses_restore_and_purge_at_once(stack: Stack) -> None:
    user = stack.register()
    uid = user["user"]["id"]
    assert admin(stack, "PATCH", f"/users/{uid}", json={"role": "admin"}).status_code == 200
    token = login(stack, user["user"]["username"])["access_token"]
    book = stack.add_book(token, title="to restore")
    deleted = requests.delete(
        f"{stack.books_url}/books/{book['id']}", headers=bearer(token), timeout=10
    )
    assert deleted.status_code == 204
    users = requests.get(f"{stack.auth_url}/admin/users", headers=bearer(token), timeout=10)
    assert users.status_code == 200
    assert admin(stack, "PATCH", f"/users/{uid}", json={"role": "librarian"}).status_code == 200
    for method, path in (
        ("POST", f"/books/{book['id']}/restore"),
        ("DELETE", f"/books/deleted/{book['id']}"),
        ("GET", "/books/deleted"),
    ):
        response = requests.request(
            method, f"{stack.books_url}{path}", headers=bearer(token), timeout=10
        )
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["detail"] == REVOKED
    users = requests.get(f"{stack.auth_url}/admin/users", headers=bearer(token), timeout=10)
    assert users.status_code == 401


def test_revoking_a_token_and_reusing_a_refresh_token_reach_the_books_service(stack: Stack) -> None:
    revoked = stack.register()
    response = requests.post(
        f"{stack.auth_url}/revoke", data={"token": revoked["access_token"]}, timeout=10
    )
    assert response.status_code == 200
    assert_revoked_by_books(stack, revoked["access_token"])
    stolen = stack.register()
    rotated = refresh(stack, stolen["refresh_token"]).json()
    # Only the newest token's immediate predecessor gets the lost-response grace: presenting
    # an older one is reuse, which revokes the whole session.
    newest = refresh(stack, rotated["refresh_token"]).json()
    assert refresh(stack, stolen["refresh_token"]).status_code == 401
    for tokens in (stolen, rotated, newest):
        assert_revoked_by_books(stack, tokens["access_token"])


def test_a_token_older_than_its_user_names_someone_else(stack: Stack) -> None:
    # Ids are not given out again (AUTOINCREMENT on SQLite, a sequence on PostgreSQL)...
    gone = stack.register()
    assert admin(stack, "DELETE", f"/users/{gone['user']['id']}").status_code == 204
    newcomer = stack.register()
    assert newcomer["user"]["id"] != gone["user"]["id"]
    assert me(stack, gone["access_token"]) == 401
    assert not active(stack, gone["access_token"])
    assert_revoked_by_books(stack, gone["access_token"])
    assert me(stack, newcomer["access_token"]) == 200


def test_a_token_whose_user_id_was_given_out_again_reaches_nobody(stack: Stack) -> None:
    # ...except, once, by migration auth_0003 on SQLite: it seeded AUTOINCREMENT with the
    # highest id left, so the ids of the newest users deleted before it were given out again.
    # Such a user is made here by hand: the old token's sub names them, its sid a session that
    # went with the deleted user. It must not reach them.
    from auth_service.passwords import Hasher
    from common.db import create_db_engine

    gone = stack.register()
    uid = gone["user"]["id"]
    assert admin(stack, "DELETE", f"/users/{uid}").status_code == 204
    name = f"heir_{uid}"
    engine = create_db_engine(
        stack.auth.env.get("AUTH_DATABASE_URL") or f"sqlite:///{stack.data_dir / 'auth.db'}"
    )
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, username, username_key, password_hash, role, "
                    "created_at, updated_at) VALUES (:id, :name, :name, :hash, 'librarian', "
                    ":now, :now)"
                ),
                {"id": uid, "name": name, "hash": Hasher().hash(STRONG_PASSWORD), "now": utcnow()},
            )
    finally:
        engine.dispose()
    heir = login(stack, name)
    assert heir["user"]["id"] == uid
    assert me(stack, gone["access_token"]) == 401
    assert not active(stack, gone["access_token"])
    assert (
        requests.post(
            f"{stack.auth_url}/logout-all", headers=bearer(gone["access_token"]), timeout=10
        ).status_code
        == 401
    )
    assert me(stack, heir["access_token"]) == 200


def test_the_revocation_list_is_public_and_names_only_what_is_needed(stack: Stack) -> None:
    user = stack.register()
    requests.post(
        f"{stack.auth_url}/logout", json={"refresh_token": user["refresh_token"]}, timeout=10
    )
    other = stack.register()
    second = login(stack, other["user"]["username"])
    requests.post(
        f"{stack.auth_url}/logout", json={"refresh_token": second["refresh_token"]}, timeout=10
    )
    response = requests.post(
        f"{stack.auth_url}/logout-all", headers=bearer(other["access_token"]), timeout=10
    )
    assert response.status_code == 204
    response = requests.get(f"{stack.auth_url}/.well-known/revocations.json", timeout=10)
    assert response.status_code == 200
    assert "no-cache" in response.headers["Cache-Control"]
    document = response.json()
    assert set(document) == {"issued_at", "grace", "users", "sessions"}
    assert document["grace"] == 180  # the largest leeway (60 s) and a two-minute margin
    assert sid(user["access_token"]) in document["sessions"]
    assert str(user["user"]["id"]) not in document["users"]
    assert (
        document["users"][str(other["user"]["id"])]
        > jwt.decode(other["access_token"], options={"verify_signature": False})["iat"]
    )
    # Every ended session is listed, also those a user-wide revocation ended (logout-all):
    # their "not before" alone would let through a token signed a moment late.
    assert sid(second["access_token"]) in document["sessions"]
    assert sid(other["access_token"]) in document["sessions"]
    # What the publisher serves is what a verifier reads: the one format, nothing skipped.
    read, skipped = read_revocation_list(document)
    assert skipped == 0
    assert read == RevocationList.model_validate(document)
    assert read.revokes({"sub": "1", "iat": 0, "sid": sid(user["access_token"])})


def sid(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sid"]


@pytest.fixture(params=["sqlite", "postgres"])
def own_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    running = start_stack(request, tmp_path, {"REVOCATIONS_MAX_AGE_SECONDS": "0"})
    yield running
    running.stop()


def test_revocations_hold_while_the_auth_service_is_down(own_stack: Stack) -> None:
    kept, ended = own_stack.register(), own_stack.register()
    requests.post(
        f"{own_stack.auth_url}/logout", json={"refresh_token": ended["refresh_token"]}, timeout=10
    )
    assert_revoked_by_books(own_stack, ended["access_token"])
    own_stack.auth.stop()
    assert write(own_stack, kept["access_token"]).status_code == 201
    assert_revoked_by_books(own_stack, ended["access_token"])
    # A restarted Books Service still knows both the keys and the revocations, from its files.
    own_stack.books.restart()
    assert write(own_stack, kept["access_token"]).status_code == 201
    assert_revoked_by_books(own_stack, ended["access_token"])
    assert requests.get(f"{own_stack.books_url}/readyz", timeout=10).status_code == 200


def test_a_malformed_jwks_entry_is_skipped_and_the_good_keys_work(tmp_path: Path) -> None:
    stack = build_stack(tmp_path, "sqlite", extra_env={"REVOCATIONS_MAX_AGE_SECONDS": "0"})
    stack.auth.start()
    server: ThreadingHTTPServer | None = None
    try:
        real = requests.get(f"{stack.auth_url}/.well-known/jwks.json", timeout=10).json()
        bad = {"kid": "bad", "kty": "OKP", "crv": "Ed25519", "x": 5}
        body = json_bytes({"keys": [*real["keys"], bad, "not a key", {"kty": "RSA"}]})

        class TamperedJwks(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", free_port()), TamperedJwks)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stack.books.env["AUTH_JWKS_URL"] = f"http://127.0.0.1:{server.server_port}/jwks.json"
        stack.books.env["AUTH_REVOCATIONS_URL"] = f"{stack.auth_url}/.well-known/revocations.json"
        stack.books.start()
        tokens = stack.register()
        assert write(stack, tokens["access_token"]).status_code == 201
        assert requests.get(f"{stack.books_url}/readyz", timeout=10).status_code == 200
        assert "skipping an unusable key in the JWKS" in stack.books.log()
        # The revocation list comes from where AUTH_REVOCATIONS_URL says.
        requests.post(
            f"{stack.auth_url}/logout", json={"refresh_token": tokens["refresh_token"]}, timeout=10
        )
        assert_revoked_by_books(stack, tokens["access_token"])
    finally:
        stack.stop()
        if server is not None:
            server.shutdown()
            server.server_close()


def json_bytes(document: object) -> bytes:
    return json.dumps(document).encode()


def create_admin(stack: Stack, username: str, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.auth.env, "ESTANTE_ADMIN_PASSWORD": NEW_PASSWORD}
    return subprocess.run(
        [sys.executable, "-m", "auth_service.cli", "create-admin", "--username", username, *flags],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_promoting_an_account_needs_the_flag_and_ends_its_sessions(stack: Stack) -> None:
    stranger = stack.register()
    name = stranger["user"]["username"]
    refused = create_admin(stack, name)
    assert refused.returncode == 1
    assert "exists already" in refused.stderr and "--promote" in refused.stderr
    assert me(stack, stranger["access_token"]) == 200  # nothing changed
    assert login(stack, name)["user"]["roles"] == ["librarian"]

    promoted = create_admin(stack, name, "--promote")
    assert promoted.returncode == 0, promoted.stderr
    assert f"{name} is an administrator" in promoted.stdout
    old = bearer(stranger["access_token"])
    assert requests.get(f"{stack.auth_url}/admin/users", headers=old, timeout=10).status_code == 401
    assert me(stack, stranger["access_token"]) == 401
    assert refresh(stack, stranger["refresh_token"]).status_code == 401
    assert_revoked_by_books(stack, stranger["access_token"])
    assert login(stack, name, NEW_PASSWORD)["user"]["roles"] == ["admin"]


def test_the_first_admin_from_the_environment_never_takes_over_an_account(
    tmp_path: Path,
) -> None:
    stack = build_stack(tmp_path, "sqlite")
    stack.auth.start()
    try:
        stranger = stack.register("chief")
    finally:
        stack.auth.stop()
    env = {
        **os.environ,
        **stack.auth.env,
        "ESTANTE_ADMIN_USERNAME": "Chief",
        "ESTANTE_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "auth_service" / "auth_service.py"), "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "exists already and is not an administrator" in result.stderr
    assert ADMIN_PASSWORD not in result.stdout + result.stderr
    stack.auth.start()
    try:
        assert me(stack, stranger["access_token"]) == 200
        assert login(stack, "chief")["user"]["roles"] == ["librarian"]
        refused = requests.post(
            f"{stack.auth_url}/login",
            json={"username": "chief", "password": ADMIN_PASSWORD},
            timeout=10,
        )
        assert refused.status_code == 401
    finally:
        stack.stop()


def test_tokens_of_unknown_expiry_are_covered_for_the_longest_lifetime_and_then_pruned(
    tmp_path: Path,
) -> None:
    from auth_service import revocations
    from auth_service.config import MAX_ACCESS_TOKEN_TTL
    from auth_service.models import TokenRevocation
    from common import migrations
    from common.config import MAX_JWT_LEEWAY
    from common.db import Database

    url = f"sqlite:///{tmp_path / 'auth.db'}"
    migrations.upgrade("auth", url)
    db = Database(url)
    # Where no expiry was recorded (no such user or session here), a token may be day-long
    # (the longest ACCESS_TOKEN_TTL_SECONDS allows) and be accepted for the largest leeway
    # after: its revocation must stay listed that long, and a margin.
    longest = timedelta(seconds=MAX_ACCESS_TOKEN_TTL + MAX_JWT_LEEWAY) + revocations.CLOCK_MARGIN
    try:
        with time_machine.travel("2030-01-01T12:00:00.250Z", tick=False) as clock:
            with db.transaction() as session:
                revocations.revoke_user_tokens(session, 7, "test")
                revocations.revoke_session_tokens(session, [("a" * 32, 8, None)], "test")
            with db.read() as session:
                listed = revocations.published(session)
            # Rounded up: a token issued in that same second, before the revocation, is refused.
            assert listed.users == {"7": 1893499201}
            assert listed.sessions == ["a" * 32]
            # Long past this service's 15 minutes, still listed...
            clock.shift(longest - timedelta(seconds=1))
            with db.read() as session:
                assert revocations.published(session).sessions == ["a" * 32]
            # ...until no token it names can be unexpired, whatever lifetime it was issued with.
            clock.shift(timedelta(seconds=2))
            with db.read() as session:
                assert revocations.published(session).users == {}
            with db.transaction() as session:
                revocations.revoke_user_tokens(session, 9, "test")
            with db.read() as session:
                remaining = session.scalars(select(TokenRevocation.user_id)).all()
            assert remaining == [9]
    finally:
        db.dispose()
