"""Password policy and argon2id hashing."""

from __future__ import annotations

import pytest

from auth_service.passwords import MAX_LENGTH, Hasher, common_passwords, password_problem

FAST = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}


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
