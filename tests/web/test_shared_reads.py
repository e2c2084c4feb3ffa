"""Identical reads made once for the threads that ask at the same time: each thread's answer
comes from a read started after it asked, errors reach every waiter, and nothing hangs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from web_service.shared_reads import SharedReads, SharedReadTimeout


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.005)


class GatedReader:
    """A read that returns how many reads were started, and waits for ``gate`` while open."""

    def __init__(self) -> None:
        self.started = 0
        self.gate = threading.Event()
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            self.started += 1
            number = self.started
        assert self.gate.wait(10)
        return number


def test_threads_asking_during_a_read_share_the_next_read_not_the_running_one() -> None:
    shared: SharedReads[int] = SharedReads()
    reader = GatedReader()
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(shared.read, "page", reader)
        until(lambda: reader.started == 1)
        later = [pool.submit(shared.read, "page", reader) for _ in range(6)]
        until(lambda: shared._keys["page"].next is not None)
        time.sleep(0.05)  # let every thread reach the read it joins
        reader.gate.set()
        assert first.result(10) == 1
        assert [f.result(10) for f in later] == [2] * 6  # read 2 started after they asked
    assert shared.reads == 2
    assert shared._keys == {}


def test_different_keys_are_read_apart() -> None:
    shared: SharedReads[str] = SharedReads()
    assert shared.read("a", lambda: "page a") == "page a"
    assert shared.read("b", lambda: "page b") == "page b"
    assert shared.read("a", lambda: "page a, later") == "page a, later"  # nothing kept
    assert shared.reads == 3


def test_every_waiter_gets_the_error_and_the_next_read_is_made_afresh() -> None:
    shared: SharedReads[int] = SharedReads()
    gate = threading.Event()
    started = threading.Event()

    def failing() -> int:
        started.set()
        assert gate.wait(10)
        raise TimeoutError("the service did not answer")

    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(shared.read, "page", failing)
        assert started.wait(10)
        second = pool.submit(shared.read, "page", failing)
        until(lambda: shared._keys["page"].next is not None)
        joiners: list[Future[int]] = [pool.submit(shared.read, "page", failing) for _ in range(3)]
        time.sleep(0.05)
        gate.set()
        for future in (first, second, *joiners):
            with pytest.raises(TimeoutError, match="did not answer"):
                future.result(10)
    assert shared.read("page", lambda: 7) == 7


def test_a_hung_read_ends_the_wait_with_an_error() -> None:
    shared: SharedReads[int] = SharedReads(wait_seconds=1.0)
    release = threading.Event()

    def hung() -> int:
        release.wait(10)
        return 1

    with ThreadPoolExecutor(3) as pool:
        pool.submit(shared.read, "page", hung)
        until(lambda: "page" in shared._keys)
        pool.submit(shared.read, "page", hung)  # the next read, waiting for the hung one
        until(lambda: shared._keys["page"].next is not None)
        waiter = pool.submit(shared.read, "page", hung)
        with pytest.raises(SharedReadTimeout):
            waiter.result(10)
        release.set()
