"""argon2id with its working memory kept by the worker, one block per hash it may run at once.

Each argon2id hash fills a block of its memory cost (19 MiB by default). Left to libargon2,
that block is ``malloc``-ed and freed by every hash, and glibc, once it has the freed block,
carves it up for the process's small allocations; the next hash then takes a new one, so an Auth
worker kept one to three such blocks (idle 85 MB, 130-160 MB after logins). Here libargon2
is given its memory through its ``allocate_cbk``/``free_cbk`` hooks from a few anonymous
mappings of this module's, outside glibc's heap, which hashes take and give back whole: a
worker holds at most one block per hash it runs at once (``ARGON2_CONCURRENCY``), and every
hash after the first writes to pages already in memory instead of faulting fresh ones in.

The encoded hashes are argon2-cffi's own, byte for byte (a test compares them), and anything
this module does not parse exactly (another format, a version it does not know, an error from
libargon2) is handed to argon2-cffi unchanged, so what is accepted and refused is its answer.
libargon2 wipes the block before giving it back (its default), as it does before ``free``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import mmap
import os
import re
import threading
from typing import Any, Literal

from argon2 import PasswordHasher, Type
from argon2.exceptions import VerifyMismatchError
from argon2.low_level import core, ffi, lib

_TYPES = {"argon2id": Type.ID, "argon2i": Type.I, "argon2d": Type.D}
_ENCODED = re.compile(
    r"\$(argon2id|argon2i|argon2d)\$v=(19|16)\$m=([0-9]{1,10}),t=([0-9]{1,10}),p=([0-9]{1,3})"
    r"\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)"
)
_BLOCK_BYTES = 1024  # libargon2's ARGON2_BLOCK_SIZE
_SYNC_POINTS = 4  # libargon2's ARGON2_SYNC_POINTS


def block_bytes(memory_kib: int, parallelism: int) -> int:
    """The size libargon2 asks for at these parameters: the memory cost rounded down to a
    multiple of 4 blocks per lane, at least 8 per lane."""
    blocks = max(memory_kib, 2 * _SYNC_POINTS * parallelism)
    blocks -= blocks % (_SYNC_POINTS * parallelism)
    return blocks * _BLOCK_BYTES


class BlockPool:
    """The blocks hashes take and give back, kept only for the sizes a hasher registered and
    only as many of each as it said it may use at once; any other block is unmapped when its
    hash is done (a stored hash made with other parameters, before it is upgraded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keep: dict[int, int] = {}
        self._free: dict[int, list[mmap.mmap]] = {}
        self._lent: dict[int, tuple[mmap.mmap, Any]] = {}

    def keep(self, size: int, count: int) -> None:
        with self._lock:
            self._keep[size] = max(self._keep.get(size, 0), count)

    def take(self, size: int) -> int:
        """The address of a block of ``size`` bytes, kept or newly mapped."""
        with self._lock:
            free = self._free.get(size)
            block = free.pop() if free else None
        if block is None:
            block = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        pointer = ffi.from_buffer(block)
        address = int(ffi.cast("uintptr_t", pointer))
        with self._lock:
            self._lent[address] = (block, pointer)
        return address

    def give_back(self, address: int) -> None:
        with self._lock:
            block, pointer = self._lent.pop(address)
            free = self._free.setdefault(len(block), [])
            kept = len(free) < self._keep.get(len(block), 0)
            if kept:
                free.append(block)
        if not kept:
            ffi.release(pointer)
            block.close()

    def kept_bytes(self) -> int:
        with self._lock:
            return sum(len(block) for blocks in self._free.values() for block in blocks)

    def release(self) -> None:
        """Unmap every kept block: in a process that hashes no more (the main process after its
        preparation), or in a forked child, which must not share its parent's blocks."""
        with self._lock:
            blocks = [block for free in self._free.values() for block in free]
            self._free.clear()
            self._lent.clear()
        for block in blocks:
            block.close()


POOL = BlockPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=POOL.release)


@ffi.callback("int(uint8_t **, size_t)", error=lib.ARGON2_MEMORY_ALLOCATION_ERROR)
def _allocate(memory: Any, size: int) -> int:
    memory[0] = ffi.cast("uint8_t *", POOL.take(size))
    return int(lib.ARGON2_OK)


@ffi.callback("void(uint8_t *, size_t)")
def _free(memory: Any, size: int) -> None:
    POOL.give_back(int(ffi.cast("uintptr_t", memory)))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes | None:
    """Decoded, or None unless ``text`` is exactly what :func:`_b64` makes of the result."""
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if _b64(data) == text else None


def raw_hash(
    password: bytes,
    salt: bytes,
    *,
    time_cost: int,
    memory_kib: int,
    parallelism: int,
    hash_len: int,
    type: Type,
    version: int = 19,
) -> bytes | None:
    """argon2's raw output computed in a pooled block; None when libargon2 refuses the
    parameters (the caller then asks argon2-cffi, for its exception)."""
    out = ffi.new("uint8_t[]", hash_len)
    pwd = ffi.new("uint8_t[]", password)
    salt_buffer = ffi.new("uint8_t[]", salt)
    context = ffi.new(
        "argon2_context *",
        {
            "out": out,
            "outlen": hash_len,
            "pwd": pwd,
            "pwdlen": len(password),
            "salt": salt_buffer,
            "saltlen": len(salt),
            "secret": ffi.NULL,
            "secretlen": 0,
            "ad": ffi.NULL,
            "adlen": 0,
            "t_cost": time_cost,
            "m_cost": memory_kib,
            "lanes": parallelism,
            "threads": parallelism,
            "version": version,
            "allocate_cbk": _allocate,
            "free_cbk": _free,
            "flags": lib.ARGON2_DEFAULT_FLAGS,
        },
    )
    if core(context, type.value) != lib.ARGON2_OK:
        return None
    return bytes(ffi.buffer(out, hash_len))


class PooledPasswordHasher(PasswordHasher):
    """argon2-cffi's :class:`PasswordHasher`, hashing and verifying in pooled blocks; it keeps
    ``keep`` blocks of its own parameters' size once they have been used."""

    def __init__(self, *args: Any, keep: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        POOL.keep(block_bytes(self.memory_cost, self.parallelism), keep)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        secret = password.encode(self.encoding) if isinstance(password, str) else password
        salt = salt or os.urandom(self.salt_len)
        raw = raw_hash(
            secret,
            salt,
            time_cost=self.time_cost,
            memory_kib=self.memory_cost,
            parallelism=self.parallelism,
            hash_len=self.hash_len,
            type=self.type,
        )
        if raw is None:
            return super().hash(password, salt=salt)
        params = f"m={self.memory_cost},t={self.time_cost},p={self.parallelism}"
        return f"$argon2{self.type.name.lower()}$v=19${params}${_b64(salt)}${_b64(raw)}"

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        text = hash.decode("ascii", "replace") if isinstance(hash, bytes) else hash
        match = _ENCODED.fullmatch(text)
        salt = _unb64(match[6]) if match else None
        expected = _unb64(match[7]) if match else None
        if match is None or salt is None or expected is None:
            return super().verify(hash, password)
        secret = password.encode(self.encoding) if isinstance(password, str) else password
        try:
            raw = raw_hash(
                secret,
                salt,
                time_cost=int(match[4]),
                memory_kib=int(match[3]),
                parallelism=int(match[5]),
                hash_len=len(expected),
                type=_TYPES[match[1]],
                version=int(match[2]),
            )
        except OverflowError:  # a number beyond uint32_t: argon2-cffi says why
            raw = None
        if raw is None:
            return super().verify(hash, password)
        if not hmac.compare_digest(raw, expected):
            raise VerifyMismatchError("The password does not match the supplied hash")
        return True


__all__ = ["POOL", "BlockPool", "PooledPasswordHasher", "block_bytes"]
