"""The leader-and-followers queue (common/group_commit.py's LeaderQueue), on its own: a caller
alone runs alone at once; callers that arrive while a group runs are taken together by the
next of them to lead; each gets its own outcome; a failure of the group itself reaches every
caller it had not answered yet, and the queue goes on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from common.group_commit import LeaderQueue, Queued, Take

TIMEOUT = 5.0


class Doubler:
    """Runs groups of numbers: each answered with its double, a negative one refused; the
    groups' items recorded; the first group held until ``release`` is set."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.running = threading.Event()
        self.release = threading.Event()
        self.fail_group: int | None = None  # this group (by its number) fails

    def __call__(self, take: Take[int, int]) -> None:
        taken = take()
        self.groups.append([job.item for job in taken])
        self.running.set()
        assert self.release.wait(TIMEOUT)
        if len(self.groups) - 1 == self.fail_group:
            raise RuntimeError("the group's connection was lost")
        for job in taken:
            answer(job)


def answer(job: Queued[int, int]) -> None:
    if job.item < 0:
        job.error = ValueError(f"{job.item} refused")
    else:
        job.result = 2 * job.item
    job.done = True


def submit_from_threads(
    queue: LeaderQueue[int, int], items: list[int], queued: Callable[[int], bool]
) -> tuple[list[object], list[threading.Thread]]:
    outcomes: list[object] = [None] * len(items)
    threads = []
    for index, item in enumerate(items):

        def run(index: int = index, item: int = item) -> None:
            try:
                outcomes[index] = queue.submit(item)
            except Exception as error:
                outcomes[index] = error

        thread = threading.Thread(target=run)
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + TIMEOUT
        while not queued(index):
            assert time.monotonic() < deadline, f"item {item} did not queue"
            time.sleep(0.001)
    return outcomes, threads


def test_a_caller_alone_runs_its_item_alone_at_once() -> None:
    doubler = Doubler()
    doubler.release.set()
    queue = LeaderQueue(doubler, max_group=8)
    assert queue.submit(21) == 42
    assert doubler.groups == [[21]]


def test_callers_arriving_while_a_group_runs_are_taken_together_each_with_its_own_outcome() -> None:
    doubler = Doubler()
    queue = LeaderQueue(doubler, max_group=8)
    first, first_threads = submit_from_threads(queue, [1], lambda _: doubler.running.is_set())
    rest, threads = submit_from_threads(queue, [2, -3, 4], lambda i: queue.waiting() == i + 1)
    doubler.release.set()
    for thread in first_threads + threads:
        thread.join(TIMEOUT)
    assert doubler.groups == [[1], [2, -3, 4]]
    assert first == [2]
    assert rest[0] == 4 and rest[2] == 8
    assert isinstance(rest[1], ValueError) and str(rest[1]) == "-3 refused"


def test_a_group_takes_at_most_its_limit_and_the_next_caller_leads_the_rest() -> None:
    doubler = Doubler()
    queue = LeaderQueue(doubler, max_group=2)
    first, first_threads = submit_from_threads(queue, [1], lambda _: doubler.running.is_set())
    rest, threads = submit_from_threads(queue, [2, 3, 4], lambda i: queue.waiting() == i + 1)
    doubler.release.set()
    for thread in first_threads + threads:
        thread.join(TIMEOUT)
    assert doubler.groups == [[1], [2, 3], [4]]
    assert first + rest == [2, 4, 6, 8]


def test_a_failed_group_fails_every_caller_in_it_and_the_queue_goes_on() -> None:
    doubler = Doubler()
    doubler.fail_group = 1
    queue = LeaderQueue(doubler, max_group=8)
    first, first_threads = submit_from_threads(queue, [1], lambda _: doubler.running.is_set())
    rest, threads = submit_from_threads(queue, [2, 3], lambda i: queue.waiting() == i + 1)
    doubler.release.set()
    for thread in first_threads + threads:
        thread.join(TIMEOUT)
    assert first == [2]
    assert all(isinstance(outcome, RuntimeError) for outcome in rest), rest
    assert queue.submit(6) == 12
    assert doubler.groups == [[1], [2, 3], [6]]
    assert queue.waiting() == 0
