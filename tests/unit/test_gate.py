"""The first-come, first-served gate that argon2id checks queue at (``auth_service.gate``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from auth_service.gate import FairGate


def _wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.001)


def test_waiters_are_served_in_the_order_they_arrived() -> None:
    gate = FairGate(1)
    gate.acquire()
    served: list[int] = []

    def waiter(number: int) -> None:
        with gate:
            served.append(number)

    threads = []
    for number in range(8):
        thread = threading.Thread(target=waiter, args=(number,))
        thread.start()
        _wait_until(lambda n=number: gate.waiting == n + 1)  # queued before the next arrives
        threads.append(thread)
    gate.release()
    for thread in threads:
        thread.join(10)
    assert served == list(range(8))


def test_a_released_slot_goes_to_the_oldest_waiter_not_to_whoever_asks_next() -> None:
    """A ``threading.Semaphore`` gives the slot back to the thread that releases it and asks
    again at once: the waiter would be passed over, and over again."""
    gate = FairGate(1)
    gate.acquire()
    served: list[str] = []

    def waiter() -> None:
        with gate:
            served.append("waiter")

    thread = threading.Thread(target=waiter)
    thread.start()
    _wait_until(lambda: gate.waiting == 1)
    gate.release()
    with gate:  # the releasing thread asks again straight away
        served.append("newcomer")
    thread.join(10)
    assert served == ["waiter", "newcomer"]


@pytest.mark.parametrize("slots", [1, 3])
def test_no_more_than_its_slots_hold_the_gate_at_once(slots: int) -> None:
    gate = FairGate(slots)
    lock = threading.Lock()
    inside = most = 0

    def hold(_: int) -> None:
        nonlocal inside, most
        with gate:
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.002)
            with lock:
                inside -= 1

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hold, range(64)))
    assert most == slots
    assert gate.waiting == 0


def test_a_holder_that_raises_gives_its_slot_back() -> None:
    gate = FairGate(1)
    with pytest.raises(RuntimeError), gate:
        raise RuntimeError("the password check failed")
    with gate:  # would wait for ever had the slot been lost
        pass


def test_a_gate_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        FairGate(0)
