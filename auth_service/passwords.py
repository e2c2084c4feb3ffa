"""Password policy and argon2id hashing.

Hashing uses argon2-cffi; its parameters come from settings (OWASP's minimum by default) and a
stored hash made with older parameters is upgraded the next time its owner logs in.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from auth_service.argon2_memory import PooledPasswordHasher
from auth_service.gate import FairGate
from common.malloc import share_one_malloc_arena

MIN_LENGTH = 8
MAX_LENGTH = 1024
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def password_problem(password: str) -> str | None:
    """Why this password is refused, or None when the policy accepts it."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters long"
    if not password.strip():
        return "must not be only white space"
    if password.casefold() in common_passwords():
        return "is one of the most common passwords; choose another"
    return None


class Hasher:
    """argon2id hashing and verification, at most ``concurrency`` at a time in this process:
    each holds its memory cost while it runs, so the bound caps the process's peak in a burst
    of logins, and the blocks are kept one per slot and reused
    (:mod:`~auth_service.argon2_memory`), so it also caps what stays afterwards. The threads
    beyond it wait their turn, as they would have for a core, in the order they came
    (:class:`~auth_service.gate.FairGate`), so no login waits much longer than the others."""

    def __init__(
        self,
        time_cost: int = 2,
        memory_kib: int = 19456,
        parallelism: int = 1,
        concurrency: int = 64,
    ) -> None:
        share_one_malloc_arena()
        self._turns = FairGate(concurrency)
        self._hasher = PooledPasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=Type.ID,
            keep=concurrency,
        )
        # Verified against when the user does not exist, so that an unknown name costs the same
        # time as a wrong password.
        self._dummy_hash = self._hasher.hash("estante-timing-equaliser")

    def hash(self, password: str) -> str:
        with self._turns:
            return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            with self._turns:
                verified = self._hasher.verify(stored_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return verified and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
