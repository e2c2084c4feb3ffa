"""A first-come, first-served gate: at most ``slots`` holders at a time, the others served in
the order they arrived.

``threading.Semaphore`` bounds how many run but not who runs next: a slot released is taken by
whichever thread the scheduler wakes first, possibly one that has just arrived, so under a
steady queue (logins at c=16 on a worker that checks one password at a time) some waiters are
passed over again and again and wait many times the average: the long tail of the login's p99
(issue 12). Here a released slot is handed to the oldest waiter directly; a newcomer never
takes it first, so a waiter is served after exactly the ones that were there before it.
"""

from __future__ import annotations

import threading
from collections import deque


class FairGate:
    """At most ``slots`` holders at once; waiters are served in arrival order."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        self._mutex = threading.Lock()
        self._free = slots
        # One lock per waiter, held until its turn is handed over: releasing it wakes exactly
        # that waiter.
        self._waiting: deque[threading.Lock] = deque()

    def acquire(self) -> None:
        with self._mutex:
            if self._free and not self._waiting:
                self._free -= 1
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        turn.acquire()  # released by the holder that hands its slot to this waiter

    def release(self) -> None:
        with self._mutex:
            if self._waiting:
                # The slot passes straight to the oldest waiter: it is never free in between,
                # so nobody arriving now can take it first.
                self._waiting.popleft().release()
            else:
                self._free += 1

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.release()

    @property
    def waiting(self) -> int:
        """How many are queued (for tests and metrics; a snapshot)."""
        with self._mutex:
            return len(self._waiting)
