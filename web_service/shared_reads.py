"""Identical reads asked at the same time by several threads of a worker, made once.

When a read for a key is already on its way, a thread asking the same does not join *that*
read: it may have been sent before a change the asking visitor has already seen made (their
own edit, say), and its answer could be older than that. It joins the *next* read for the key
instead, which starts as soon as the current one is over, so every answer a thread gets comes
from a read sent after that thread asked. However many threads ask meanwhile, that is one read.

Every thread gets the same result, or the same exception (a timeout, the service being down,
a 4xx). A thread never waits for longer than the reads before it take, and those are bounded
by the API client's timeout; ``wait_seconds`` is a last resort against a reader that hangs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedReadTimeout(Exception):
    """The read this thread was waiting for took longer than ``wait_seconds``."""


@dataclass
class _Read(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None

    def outcome(self, wait_seconds: float) -> T:
        if not self.done.wait(wait_seconds):
            raise SharedReadTimeout()
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # set whenever error is not


@dataclass
class _Key(Generic[T]):
    running: _Read[T] | None = None
    next: _Read[T] | None = None


class SharedReads(Generic[T]):
    """Thread-safe; one per worker."""

    def __init__(self, wait_seconds: float = 60.0) -> None:
        self.wait_seconds = wait_seconds
        self._keys: dict[Hashable, _Key[T]] = {}
        self._lock = threading.Lock()
        self.reads = 0  # how many reads were made (for tests and curiosity)

    def read(self, key: Hashable, reader: Callable[[], T]) -> T:
        before: _Read[T] | None = None  # the read to wait for before making this one
        with self._lock:
            state = self._keys.setdefault(key, _Key())
            if state.running is None:
                mine: _Read[T] = _Read()
                state.running = mine
                leads = True
            elif state.next is not None:
                mine = state.next  # the read that starts once the current one is over
                leads = False
            else:
                mine = _Read()
                state.next = mine
                before = state.running
                leads = True
        if not leads:
            return mine.outcome(self.wait_seconds)
        if before is not None:
            before.done.wait(self.wait_seconds)
            with self._lock:
                state.running, state.next = mine, None
        return self._lead(key, state, mine, reader)

    def _lead(self, key: Hashable, state: _Key[T], mine: _Read[T], reader: Callable[[], T]) -> T:
        try:
            mine.result = reader()
        except BaseException as error:
            mine.error = error
            raise
        finally:
            with self._lock:
                self.reads += 1
                if state.running is mine:
                    state.running = None
                    if state.next is None and self._keys.get(key) is state:
                        del self._keys[key]
            mine.done.set()
        return mine.result
