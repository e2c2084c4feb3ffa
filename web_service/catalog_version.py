"""What this worker knows of the catalog's version, learnt by asking the Books Service a few
times a second rather than on every view.

The Books Service's page ETags change whenever the catalog does (its ``GET /books`` says so),
so the ETag of one fixed, tiny page (``GET /books?limit=1``) is a version of the whole catalog:
a thread of this worker asks for it every ``interval`` seconds with ``If-None-Match`` (a 304,
which the Books Service answers from the version alone). The pages this worker keeps are
tagged with the version known before they were read, and a page whose tag is the current
version is served without asking the API at all.

**The staleness bound.** The version is *current* only while the poll that last confirmed it
started at most ``2 * interval`` seconds ago; a poll that fails, hangs or is late makes it
unknown, and every view then asks the API as if there were no poll. So a view that starts at
time *t* shows every change committed before *t - 2 * interval*: that poll's request reached
the Books Service after the change. With the default 0.25 s, a change made through the API by
anyone else shows on the web within 0.5 s.

**This worker's own writes.** :meth:`CatalogVersion.forget` (called on every write this
worker sends the Books Service) makes the version unknown at once, and a poll that started
before the write cannot confirm it again, so every view after the write asks the API until a
poll started after it answers. (Other workers learn of the write from the browser's cookie;
see :mod:`web_service.views.catalog`.)

The thread runs only while the catalog is being viewed: when nobody asked for the version for
``idle_seconds`` it stops, and the next view (which asks the API) starts it again.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable

# Between these, or 0 for no poll at all (every view asks the API).
MIN_INTERVAL = 0.05
MAX_INTERVAL = 5.0
IDLE_SECONDS = 30.0
UNKNOWN: tuple[str | None, float] = (None, -math.inf)


class CatalogVersion:
    """Thread-safe; one per worker. ``probe(previous_tag)`` asks the Books Service for the
    version (sending the previous one to get a 304) and returns its tag, or None when the
    answer carries none; any exception means it could not tell."""

    def __init__(
        self,
        probe: Callable[[str | None], str | None],
        interval: float,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.max_age = 2 * interval
        self.idle_seconds = idle_seconds
        self.polls = 0  # how many polls were made (for tests and curiosity)
        self._probe = probe
        self._clock = clock
        # (tag, when the poll that confirmed it started), read without the lock: one tuple.
        self._state = UNKNOWN
        self._last_tag: str | None = None  # for If-None-Match, even when no longer current
        self._forgotten_at = -math.inf
        self._wanted_at = clock()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closed = False

    def current(self) -> str | None:
        """The catalog's version when a poll confirmed it recently enough (see the bound),
        else None: the caller must ask the API."""
        if not self.interval:
            return None
        now = self._clock()
        self._wanted_at = now
        if self._thread is None or self._pid != os.getpid():
            self._start()
        tag, confirmed_at = self._state
        if tag is None or now - confirmed_at > self.max_age:
            return None
        return tag

    def forget(self) -> None:
        """The catalog is being changed from here: unknown until a poll started after now."""
        with self._lock:
            self._forgotten_at = self._clock()
            self._state = UNKNOWN
        self._wake.set()

    def poll(self) -> None:
        """Ask the Books Service once (the thread does, every ``interval``)."""
        started = self._clock()
        try:
            tag = self._probe(self._last_tag)
        except Exception:
            tag = None  # down or failing: unknown, so views ask (and say what is wrong)
        with self._lock:
            self.polls += 1
            if started <= self._forgotten_at:
                return  # may have been answered before this worker's write
            self._state = (tag, started) if tag else UNKNOWN
            if tag:
                self._last_tag = tag

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # inherited through fork: the parent's thread
                self._pid, self._thread, self._state = os.getpid(), None, UNKNOWN
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(
                target=self._run, name="estante-catalog-version", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            started = self._clock()
            if started - self._wanted_at > self.idle_seconds:
                with self._lock:
                    self._thread, self._state = None, UNKNOWN
                return
            self.poll()
            # Polls start every interval (not interval after the last one ended), or at once
            # after a write.
            self._wake.wait(max(0.0, started + self.interval - self._clock()))
            self._wake.clear()
        with self._lock:
            self._thread, self._state = None, UNKNOWN
