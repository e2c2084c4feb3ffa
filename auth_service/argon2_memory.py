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

A block kept but unused for ``IDLE_SECONDS`` has its pages given back to the system
(``madvise(MADV_DONTNEED)``: still mapped, no longer in memory) by a thread of the pool's that
sleeps until then, so an Auth worker holds its 19 MiB only while logins come: one every few
seconds keeps it. The first hash after such a pause faults the pages in again; blocks are asked
to be backed by transparent huge pages (``MADV_HUGEPAGE``), which makes that ~5 ms of CPU
instead of ~17 (and every hash a little faster: fewer TLB misses).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import mmap
import os
import re
import threading
import time
from dataclasses import dataclass
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
# How long a kept block may go unused before its pages are given back.
IDLE_SECONDS = 10.0


def block_bytes(memory_kib: int, parallelism: int) -> int:
    """The size libargon2 asks for at these parameters: the memory cost rounded down to a
    multiple of 4 blocks per lane, at least 8 per lane."""
    blocks = max(memory_kib, 2 * _SYNC_POINTS * parallelism)
    blocks -= blocks % (_SYNC_POINTS * parallelism)
    return blocks * _BLOCK_BYTES


@dataclass
class _Kept:
    """A block waiting for its next hash: since when, and whether its pages are still in
    memory."""

    block: mmap.mmap
    since: float
    resident: bool = True


def _new_block(size: int) -> mmap.mmap:
    block = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):  # Linux: faulted in 2 MiB at a time where it can be
        block.madvise(mmap.MADV_HUGEPAGE)
    return block


class BlockPool:
    """The blocks hashes take and give back, kept only for the sizes a hasher registered and
    only as many of each as it said it may use at once; any other block is unmapped when its
    hash is done (a stored hash made with other parameters, before it is upgraded). A kept block
    unused for ``idle_seconds`` has its pages given back (it stays mapped, to be reused)."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._keep: dict[int, int] = {}
        self._free: dict[int, list[_Kept]] = {}
        self._lent: dict[int, tuple[mmap.mmap, Any]] = {}
        self._due = threading.Condition(self._lock)  # a block was given back, or a release
        self._sweeper_pid = 0  # the process whose thread gives idle blocks' pages back

    def keep(self, size: int, count: int) -> None:
        with self._lock:
            self._keep[size] = max(self._keep.get(size, 0), count)

    def take(self, size: int) -> int:
        """The address of a block of ``size`` bytes, kept or newly mapped."""
        with self._lock:
            free = self._free.get(size)
            kept = free.pop() if free else None
        block = kept.block if kept else _new_block(size)
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
                free.append(_Kept(block, time.monotonic()))
                self._start_sweeper()
        if not kept:
            ffi.release(pointer)
            block.close()

    def kept_bytes(self) -> int:
        """Bytes of the blocks kept for the next hashes, in memory or not."""
        with self._lock:
            return sum(len(kept.block) for free in self._free.values() for kept in free)

    def resident_bytes(self) -> int:
        """Bytes of the kept blocks whose pages have not been given back."""
        with self._lock:
            kept = [kept for free in self._free.values() for kept in free]
            return sum(len(one.block) for one in kept if one.resident)

    def release_idle(self, now: float | None = None) -> float | None:
        """Give back the pages of every kept block unused for ``idle_seconds`` (at ``now``);
        returns when the next one will be due, or None if none is in memory."""
        now = time.monotonic() if now is None else now
        due: float | None = None
        with self._lock:
            for free in self._free.values():
                for kept in free:
                    if not kept.resident:
                        continue
                    if now - kept.since >= self.idle_seconds:
                        # Under the lock, so no hash takes it meanwhile; ~1 ms, and only once
                        # the worker has been idle.
                        kept.block.madvise(mmap.MADV_DONTNEED)
                        kept.resident = False
                    else:
                        at = kept.since + self.idle_seconds
                        due = at if due is None else min(due, at)
        return due

    def _start_sweeper(self) -> None:
        """Under the lock: wake this process's sweeper, started with the first kept block (a
        forked child, which has no thread of its parent's, starts its own)."""
        if self._sweeper_pid != os.getpid():
            self._sweeper_pid = os.getpid()
            threading.Thread(target=self._sweep, name="argon2-idle-blocks", daemon=True).start()
        self._due.notify()

    def _sweep(self) -> None:
        pid = os.getpid()
        while True:
            due = self.release_idle()
            with self._lock:
                if self._sweeper_pid != pid:
                    return  # a stale thread (cannot happen after a fork: threads do not survive)
                wait = None if due is None else max(0.0, due - time.monotonic())
                self._due.wait(wait)

    def release(self) -> None:
        """Unmap every kept block: in a process that hashes no more (the main process after its
        preparation), or in a forked child, which must not share its parent's blocks."""
        with self._lock:
            blocks = [kept.block for free in self._free.values() for kept in free]
            self._free.clear()
            self._lent.clear()
        for block in blocks:
            block.close()

    def after_fork(self) -> None:
        """In a forked child: new locks (a thread of the parent's may have held them at the
        fork, and it does not exist here to let go), no sweeper yet, none of the parent's
        blocks."""
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._sweeper_pid = 0
        self.release()


POOL = BlockPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=POOL.after_fork)


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
