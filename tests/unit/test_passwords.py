"""Password policy and argon2id hashing."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

import pytest
from argon2 import PasswordHasher

from auth_service.config import AuthSettings
from auth_service.passwords import MAX_LENGTH, Hasher, common_passwords, password_problem

FAST = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}
T = TypeVar("T")


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 8"),
        ("1234567", "at least 8"),
        (" " * 12, "white space"),
        ("x" * (MAX_LENGTH + 1), "at most 1024"),
        ("password123", "common"),
        ("PassWord123", "common"),  # the list is compared ignoring case
        ("iloveyou", "common"),
    ],
)
def test_refused_passwords_say_why(password: str, problem: str) -> None:
    assert problem in (password_problem(password) or "")


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "x" * MAX_LENGTH, "Çà-mots 😀 de passe"]
)
def test_good_passwords_pass(password: str) -> None:
    assert password_problem(password) is None


def test_the_bundled_list_is_loaded() -> None:
    words = common_passwords()
    assert len(words) > 10_000
    assert "password" in words and all(len(w) >= 8 for w in words)


def test_hashes_are_argon2id_and_salted() -> None:
    hasher = Hasher(**FAST)
    first, second = hasher.hash("correct horse"), hasher.hash("correct horse")
    assert first.startswith("$argon2id$")
    assert first != second  # a fresh salt each time
    assert "correct horse" not in first


def test_verify() -> None:
    hasher = Hasher(**FAST)
    stored = hasher.hash("correct horse")
    assert hasher.verify(stored, "correct horse")
    assert not hasher.verify(stored, "correct horsE")
    assert not hasher.verify(stored, "")
    assert not hasher.verify("not a hash", "correct horse")


def test_an_unknown_user_is_verified_against_a_dummy_hash() -> None:
    hasher = Hasher(**FAST)
    assert hasher.verify(None, "correct horse") is False
    # Even the dummy's own password does not make a missing user valid.
    assert hasher.verify(None, "estante-timing-equaliser") is False


def test_hashes_made_with_other_parameters_need_a_rehash() -> None:
    old = Hasher(time_cost=1, memory_kib=8192, parallelism=1).hash("correct horse")
    current = Hasher(time_cost=2, memory_kib=8192, parallelism=1)
    assert current.needs_rehash(old)
    assert not current.needs_rehash(current.hash("correct horse"))
    assert current.verify(old, "correct horse")  # still accepted: upgraded at login


class CountingHasher(PasswordHasher):
    """argon2-cffi's hasher, counting how many of its hashes run at once."""

    def __init__(self, inner: PasswordHasher) -> None:
        super().__init__(inner.time_cost, inner.memory_cost, inner.parallelism, type=inner.type)
        self.running = self.most = 0
        self._lock = threading.Lock()

    def _counted(self, work: Callable[[], T]) -> T:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return work()
        finally:
            with self._lock:
                self.running -= 1

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        return self._counted(lambda: super(CountingHasher, self).hash(password, salt=salt))

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        return self._counted(lambda: super(CountingHasher, self).verify(hash, password))


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_hasher_never_checks_more_passwords_at_once_than_its_concurrency(
    concurrency: int,
) -> None:
    hasher = Hasher(**FAST, concurrency=concurrency)
    stored = hasher.hash("correct horse")
    counting = CountingHasher(hasher._hasher)
    hasher._hasher = counting
    all_asking = threading.Barrier(4, timeout=30)

    def login(password: str) -> bool:
        all_asking.wait()  # the four ask at the same moment
        return hasher.verify(stored, password)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(login, ["correct horse", "wrong", "correct horse", "wrong"]))
    assert answers == [True, False, True, False]
    assert 1 <= counting.most <= concurrency


def test_a_worker_hashes_its_share_of_the_cores_at_once_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4}, raising=False)
    assert AuthSettings(workers=2).argon2_hashes_at_once == 3  # 5 cores / 2 workers, rounded up
    assert AuthSettings(workers=8).argon2_hashes_at_once == 1
    assert AuthSettings(workers=2, argon2_concurrency=1).argon2_hashes_at_once == 1


def test_the_auth_service_runs_one_worker_hashing_on_every_core_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    monkeypatch.delenv("AUTH_WORKERS", raising=False)
    monkeypatch.delenv("ESTANTE_WORKERS", raising=False)
    settings = AuthSettings()
    assert (settings.workers, settings.argon2_hashes_at_once) == (1, 2)
    monkeypatch.setenv("ESTANTE_WORKERS", "2")  # every service's workers, Auth's too
    assert AuthSettings().workers == 2
    monkeypatch.setenv("AUTH_WORKERS", "3")  # the Auth Service's own comes first
    assert AuthSettings().workers == 3


@pytest.mark.parametrize("configured", [1, 2])
def test_the_service_checks_at_most_argon2_concurrency_passwords_at_once(configured: int) -> None:
    from auth_service.app import make_hasher

    settings = AuthSettings(
        argon2_memory_kib=8192, argon2_time_cost=1, argon2_concurrency=configured
    )
    hasher = make_hasher(settings)
    stored = hasher.hash("correct horse")
    counting = CountingHasher(hasher._hasher)
    hasher._hasher = counting
    all_asking = threading.Barrier(4, timeout=30)

    def login(_: int) -> bool:
        all_asking.wait()
        return hasher.verify(stored, "correct horse")

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(login, range(4)))
    assert 1 <= counting.most <= configured
