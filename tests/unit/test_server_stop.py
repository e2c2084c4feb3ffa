"""The services' Granian server stops its workers gracefully: a worker whose pipe has closed
but whose end the kernel has not reported yet is waited for, not killed; one that does not stop
within the kill timeout still is."""

from __future__ import annotations

import time

from common.server import Server


class Worker:
    """A worker as the server sees it: ``join`` returns at once (its pipe closed) while it is
    still reported alive for ``exiting`` seconds after being asked to stop."""

    def __init__(self, idx: int, exiting: float) -> None:
        self.idx, self.exiting = idx, exiting
        self.stopped_at: float | None = None
        self.killed = False

    def terminate(self) -> None:
        self.stopped_at = time.monotonic()

    def join(self, timeout: float | None = None) -> None:
        return None

    def is_alive(self) -> bool:
        assert self.stopped_at is not None
        return not self.killed and time.monotonic() - self.stopped_at < self.exiting

    def kill(self) -> None:
        self.killed = True


def _stop(workers: list[Worker], kill_timeout: int) -> None:
    server = Server.__new__(Server)  # only what _stop_workers reads
    server.wrks = list(workers)  # type: ignore[assignment]
    server.workers_kill_timeout = kill_timeout
    server._stop_workers()


def test_a_worker_on_its_way_out_is_waited_for_not_killed() -> None:
    workers = [Worker(0, exiting=0.05), Worker(1, exiting=0.08)]
    _stop(workers, kill_timeout=5)
    assert [w.killed for w in workers] == [False, False]


def test_a_worker_that_does_not_stop_is_killed_after_the_timeout() -> None:
    stubborn = Worker(0, exiting=3600)
    started = time.monotonic()
    _stop([stubborn], kill_timeout=1)
    assert stubborn.killed
    assert time.monotonic() - started >= 1


def test_without_a_kill_timeout_a_worker_is_never_killed() -> None:
    slow = Worker(0, exiting=0.2)
    _stop([slow], kill_timeout=0)
    assert not slow.killed
