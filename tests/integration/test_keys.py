"""Signing-key rotation while requests flow, and the books service without the auth service."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests

from common.config import PROJECT_ROOT
from tests.support.harness import STRONG_PASSWORD, Stack, start_stack


@pytest.fixture(params=["sqlite", "postgres"])
def rotating(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    running = start_stack(
        request,
        tmp_path,
        {
            "KEY_ACTIVATION_DELAY_SECONDS": "3",
            "KEYS_RELOAD_SECONDS": "0.5",
            "JWKS_REFETCH_COOLDOWN_SECONDS": "1",
        },
    )
    yield running
    running.stop()


def test_key_rotation_while_requests_flow(rotating: Stack) -> None:
    username = rotating.register()["user"]["username"]
    old_kid = jwt.get_unverified_header(rotating.token())["kid"]
    failures: list[str] = []
    kids: set[str] = set()
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            login = requests.post(
                f"{rotating.auth_url}/login",
                timeout=10,
                json={"username": username, "password": STRONG_PASSWORD},
            )
            if login.status_code != 200:
                failures.append(f"login {login.status_code}")
                continue
            token = login.json()["access_token"]
            kids.add(jwt.get_unverified_header(token)["kid"])
            write = requests.post(
                f"{rotating.books_url}/books?allow_duplicate=true",
                timeout=10,
                json={"title": "during rotation", "author": "x"},
                headers={"Authorization": f"Bearer {token}"},
            )
            if write.status_code != 201:
                failures.append(f"write {write.status_code} {write.text}")

    workers = [threading.Thread(target=traffic) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.5)
        rotated = subprocess.run(
            [
                sys.executable,
                "-m",
                "auth_service.key_commands",
                "rotate",
                "--dir",
                str(rotating.keys_dir()),
            ],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert rotated.returncode == 0, rotated.stderr
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(kids) < 2:
            time.sleep(0.2)
        time.sleep(1)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert failures == []
    assert old_kid in kids and len(kids) == 2, "the new key never started signing"
    published = {
        k["kid"]
        for k in requests.get(f"{rotating.auth_url}/.well-known/jwks.json", timeout=10).json()[
            "keys"
        ]
    }
    assert kids <= published  # the old key stays published while its tokens live


def test_books_keep_verifying_while_the_auth_service_is_down(own_stack: Stack) -> None:
    token = own_stack.token()
    own_stack.add_book(token, title="while auth is up")
    own_stack.auth.stop()
    own_stack.add_book(token, title="auth is down")
    # Even a restarted books service verifies: it kept the last good JWKS on disk.
    own_stack.books.restart()
    book = own_stack.add_book(token, title="auth down, books restarted")
    assert book["created_by"]
    assert requests.get(f"{own_stack.books_url}/books", timeout=10).status_code == 200


def test_without_any_key_the_books_service_answers_503(tmp_path: Path) -> None:
    from tests.support.harness import build_stack

    stack = build_stack(tmp_path, "sqlite")
    stack.books.start()  # the auth service never started: no key was ever fetched
    try:
        forged = jwt.encode({"sub": "1"}, "x" * 32, algorithm="HS256", headers={"kid": "k"})
        response = requests.post(
            f"{stack.books_url}/books",
            json={"title": "a", "author": "b"},
            headers={"Authorization": f"Bearer {forged}"},
            timeout=10,
        )
        # HS256 is refused before any key is looked up.
        assert response.status_code == 401
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # A token that looks right in every way the verifier can check without a key.
        now = int(time.time())
        claims = {
            "iss": "estante-auth",
            "aud": "estante",
            "sub": "1",
            "username": "someone",
            "roles": ["librarian"],
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": "a-token-id",
            "type": "access",
        }
        eddsa = jwt.encode(claims, pem, algorithm="EdDSA", headers={"kid": "k", "typ": "at+jwt"})
        response = requests.post(
            f"{stack.books_url}/books",
            json={"title": "a", "author": "b"},
            headers={"Authorization": f"Bearer {eddsa}"},
            timeout=10,
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        assert response.headers["Content-Type"] == "application/problem+json"
    finally:
        stack.stop()
