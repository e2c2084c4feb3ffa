"""Calls made to queue at SQLite's write gate together, so that their writes make one group
(:mod:`common.group_commit`): what the group commit tests of both services share."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from common.db import Database

# How long a call may take to queue: one that never queues (it does not write through
# Database.write) fails the test rather than hang it.
QUEUE_TIMEOUT = 5.0


def run_grouped(db: Database, calls: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """Run each call (each submits one write through :meth:`Database.write`) from a thread of
    its own, all queued while another writer holds the gate, so that their writes make one
    group; each call's outcome ("ok", result) or ("error", exception), in the order of
    ``calls`` (which is the order they queued in)."""
    assert db.groups is not None, "group commit is SQLite's"
    outcomes: list[tuple[str, Any]] = [("none", None)] * len(calls)
    holding, release = threading.Event(), threading.Event()

    def hold_the_gate() -> None:
        with db.transaction():
            holding.set()
            release.wait(30)

    blocker = threading.Thread(target=hold_the_gate)
    blocker.start()
    threads: list[threading.Thread] = []
    try:
        assert holding.wait(30)
        for index, call in enumerate(calls):

            def outcome_of(index: int = index, call: Callable[[], Any] = call) -> None:
                try:
                    outcomes[index] = ("ok", call())
                except Exception as error:
                    outcomes[index] = ("error", error)

            thread = threading.Thread(target=outcome_of)
            thread.start()
            threads.append(thread)
            deadline = time.monotonic() + QUEUE_TIMEOUT
            while db.groups.waiting() < index + 1:  # queued in this order
                assert time.monotonic() < deadline, f"call {index} did not queue for a group"
                time.sleep(0.001)
    finally:
        release.set()
        blocker.join(30)
        for thread in threads:
            thread.join(30)
    return outcomes
