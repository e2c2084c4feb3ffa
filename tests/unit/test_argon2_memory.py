"""argon2id in pooled blocks: the same hashes and answers as argon2-cffi, and bounded memory."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import ffi, hash_secret

from auth_service.argon2_memory import POOL, BlockPool, PooledPasswordHasher, block_bytes

SALT = bytes(range(16))
PARAMETERS = [
    {"time_cost": 1, "memory_cost": 8192, "parallelism": 1},
    {"time_cost": 2, "memory_cost": 8195, "parallelism": 2},  # not a multiple of 4 per lane
    {"time_cost": 3, "memory_cost": 9000, "parallelism": 3, "hash_len": 16, "salt_len": 8},
]


@pytest.mark.parametrize("parameters", PARAMETERS)
@pytest.mark.parametrize("password", ["correct horse", "Çà-mots 😀", b"\x00raw\xffbytes", ""])
def test_a_pooled_hash_is_argon2_cffis_hash_byte_for_byte(
    parameters: dict[str, int], password: str | bytes
) -> None:
    pooled = PooledPasswordHasher(**parameters, type=Type.ID)
    reference = PasswordHasher(**parameters, type=Type.ID)
    assert pooled.hash(password, salt=SALT) == reference.hash(password, salt=SALT)


@pytest.mark.parametrize("kind", [Type.ID, Type.I, Type.D])
@pytest.mark.parametrize("version", [19, 16])
def test_hashes_argon2_cffi_made_verify_and_wrong_passwords_do_not(
    kind: Type, version: int
) -> None:
    stored = hash_secret(
        b"correct horse", SALT, time_cost=2, memory_cost=8192, parallelism=2, hash_len=24,
        type=kind, version=version,
    ).decode()  # fmt: skip
    pooled = PooledPasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    assert pooled.verify(stored, "correct horse") is True
    assert pooled.verify(stored.encode(), b"correct horse") is True
    with pytest.raises(VerifyMismatchError):
        pooled.verify(stored, "correct horsE")


def test_a_pooled_hash_verifies_with_argon2_cffi_and_the_other_way_round() -> None:
    pooled = PooledPasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    reference = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    assert reference.verify(pooled.hash("correct horse"), "correct horse")
    assert pooled.verify(reference.hash("correct horse"), "correct horse")
    assert pooled.hash("correct horse") != pooled.hash("correct horse")  # a fresh salt each time


GOOD = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw", salt=SALT)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=8192,t=1,p=1$",
        GOOD.replace("v=19", "v=18"),
        GOOD.replace("m=8192", "m=1"),  # below libargon2's minimum
        GOOD.replace("t=1", "t=0"),
        GOOD.replace("m=8192", "m=99999999999"),  # beyond uint32_t
        GOOD.replace("$argon2id$", "$argon2x$"),
        GOOD[:-3],  # a hash too short, and not canonical base64
        GOOD + "=",
        GOOD.replace("$v=19", ""),  # the old format without a version
        GOOD[: GOOD.rindex("$")] + "$AAAA",  # a 3-byte hash: below the minimum
    ],
)
def test_a_malformed_or_foreign_hash_gets_argon2_cffis_own_answer(stored: str) -> None:
    def answer(hasher: PasswordHasher) -> object:
        try:
            return hasher.verify(stored, "pw")
        except (InvalidHashError, VerificationError) as error:
            return type(error)

    pooled = PooledPasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    assert answer(pooled) == answer(PasswordHasher())


def test_the_pool_keeps_one_block_per_hash_at_once_and_unmaps_the_rest() -> None:
    pool = BlockPool()
    size = block_bytes(8192, 1)
    pool.keep(size, 2)
    taken = [pool.take(size) for _ in range(3)] + [pool.take(4096)]
    assert len(set(taken)) == 4
    for address in taken:
        pool.give_back(address)
    assert pool.kept_bytes() == 2 * size  # the third, and the other size, were unmapped
    assert pool.take(size) in taken[:2]  # a kept block is lent again
    pool.release()
    assert pool.kept_bytes() == 0


def test_overlapping_hashes_leave_no_more_blocks_than_the_hasher_keeps() -> None:
    POOL.release()
    hasher = PooledPasswordHasher(time_cost=1, memory_cost=8200, parallelism=1, keep=1)
    all_hashing = threading.Barrier(4, timeout=30)

    def login(password: str) -> bool:
        stored = hasher.hash(password)
        all_hashing.wait()
        return hasher.verify(stored, password)

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(login, ["a1", "b2", "c3", "d4"]))
    assert POOL.kept_bytes() == block_bytes(8200, 1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_a_forked_child_does_not_keep_its_parents_blocks() -> None:
    hasher = PooledPasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    hasher.hash("before the fork")
    assert POOL.kept_bytes() > 0
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's answer is read below)
        os.write(write, str(POOL.kept_bytes()).encode())
        os._exit(0)
    os.close(write)
    assert os.read(read, 64) == b"0"
    os.close(read)
    os.waitpid(child, 0)
    assert POOL.kept_bytes() > 0


def test_the_auth_service_keeps_no_more_argon2_blocks_than_its_argon2_concurrency() -> None:
    from auth_service.app import make_hasher
    from auth_service.config import AuthSettings

    settings = AuthSettings(argon2_concurrency=2, argon2_memory_kib=8204, argon2_time_cost=1)
    POOL.release()
    hasher = make_hasher(settings)
    all_asking = threading.Barrier(4, timeout=30)

    def login(password: str) -> bool:
        all_asking.wait()
        return hasher.verify(None, password)  # an unknown user: the timing equaliser's hash

    with ThreadPoolExecutor(4) as pool:
        assert not any(pool.map(login, ["a1", "b2", "c3", "d4"]))
    assert 1 <= POOL.kept_bytes() // block_bytes(8204, 1) <= 2


def _rss_kib() -> int:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            return int(line.split()[1])
    raise AssertionError("no Rss in smaps_rollup")


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="Linux only")
def test_a_block_unused_for_a_while_gives_its_pages_back_and_still_hashes_right() -> None:
    pool = BlockPool(idle_seconds=60)
    size = block_bytes(8192, 1)
    pool.keep(size, 1)
    address = pool.take(size)
    ffi.memmove(ffi.cast("uint8_t *", address), b"\xff" * size, size)  # in memory, as a hash
    pool.give_back(address)
    since = time.monotonic()
    assert pool.release_idle(since) == pytest.approx(since + 60, abs=5)  # not yet
    assert pool.resident_bytes() == size
    before = _rss_kib()
    assert pool.release_idle(since + 61) is None
    assert pool.resident_bytes() == 0 and pool.kept_bytes() == size  # still mapped, for reuse
    assert before - _rss_kib() >= size // 1024 * 9 // 10
    assert pool.take(size) == address  # the same block, its pages zeroed by the kernel
    assert bytes(ffi.buffer(ffi.cast("uint8_t *", address), 16)) == bytes(16)
    pool.give_back(address)
    pool.release()


def test_hashes_after_the_pages_were_given_back_are_argon2_cffis() -> None:
    hasher = PooledPasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    stored = hasher.hash("pw", salt=b"0123456789abcdef")
    POOL.release_idle(time.monotonic() + POOL.idle_seconds + 1)
    assert POOL.resident_bytes() == 0
    assert hasher.hash("pw", salt=b"0123456789abcdef") == stored
    assert PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).verify(stored, "pw")
    assert hasher.verify(stored, "pw")


def test_the_pools_thread_gives_back_an_idle_blocks_pages_by_itself() -> None:
    pool = BlockPool(idle_seconds=0.05)
    size = block_bytes(8192, 1)
    pool.keep(size, 1)
    pool.give_back(pool.take(size))
    deadline = time.monotonic() + 30
    while pool.resident_bytes() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pool.resident_bytes() == 0
    pool.give_back(pool.take(size))  # used again: kept in memory again, then given back again
    while pool.resident_bytes() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pool.resident_bytes() == 0 and pool.kept_bytes() == size
    pool.release()
