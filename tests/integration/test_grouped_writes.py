"""Writes made at the same time over HTTP, which on SQLite share one transaction and one COMMIT
(common/group_commit.py): every request still gets its own answer (a duplicate's 409 or a stale
version's 412 never leaks to another request of its group), every answered write is there to
read at once from any worker, no write is lost and versions follow one another in order."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from books_service.isbn import isbn13_check_digit
from tests.support.harness import Stack


def _isbn(rng: random.Random) -> str:
    body = "978" + "".join(rng.choice("0123456789") for _ in range(9))
    return body + isbn13_check_digit(body)


def test_concurrent_posts_each_get_their_own_answer_and_every_201_is_readable_at_once(
    stack: Stack,
) -> None:
    token = stack.token()
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random()
    contested = _isbn(rng)
    marker = f"grouped-{stack.backend}-{rng.randrange(10**9)}"
    # 12 distinct books, 8 requests for one ISBN, 6 for one title and author without an ISBN.
    bodies: list[dict[str, Any]] = [
        {"title": f"{marker} own {n}", "author": "Group Writer", "isbn": _isbn(rng)}
        for n in range(12)
    ]
    bodies += [{"title": f"{marker} isbn {n}", "author": "X", "isbn": contested} for n in range(8)]
    bodies += [{"title": f"{marker} same", "author": "Same Hand"} for _ in range(6)]
    rng.shuffle(bodies)
    start = threading.Barrier(len(bodies))

    def post(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, Any], int | None]:
        start.wait(30)
        answer = requests.post(f"{stack.books_url}/books", json=body, headers=headers, timeout=60)
        read = None
        if answer.status_code == 201:
            # Straight after the answer, from whichever worker: the write is committed.
            read = requests.get(stack.books_url + answer.headers["Location"], timeout=30)
            assert read.json()["title"] == body["title"]
            read_status: int | None = read.status_code
        else:
            read_status = None
        return body, answer.status_code, answer.json(), read_status

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        results = list(pool.map(post, bodies))

    own = [r for r in results if " own " in r[0]["title"]]
    assert [status for _, status, _, read in own] == [201] * 12
    assert all(read == 200 for *_, read in own)
    for name, count in (("isbn", 8), ("same", 6)):
        group = [r for r in results if f" {name}" in r[0]["title"]]
        assert len(group) == count
        winners = [r for r in group if r[1] == 201]
        assert len(winners) == 1, [r[1] for r in group]
        winner_id = winners[0][2]["id"]
        assert winners[0][3] == 200
        for _, status, problem, _ in group:
            if status != 201:
                assert status == 409
                assert problem["existing"] == f"/books/{winner_id}"
    titles = [book["title"] for book in stack.list_books() if book["title"].startswith(marker)]
    assert len(titles) == 14


def test_read_modify_write_loops_lose_no_update_and_versions_follow_in_order(
    stack: Stack,
) -> None:
    token = stack.token()
    headers = {"Authorization": f"Bearer {token}"}
    book = stack.add_book(token, title=f"counter-{stack.backend}", author="Loop")
    url = f"{stack.books_url}/books/{book['id']}"
    writers, each = 8, 5

    def increment(writer: int) -> list[int]:
        versions = []
        done = 0
        while done < each:
            current = requests.get(url, timeout=30)
            copies = current.json()["copies"]
            answer = requests.patch(
                url,
                json={"copies": copies + 1},
                headers={**headers, "If-Match": current.headers["ETag"]},
                timeout=60,
            )
            if answer.status_code == 412:
                continue
            assert answer.status_code == 200, answer.text
            assert answer.json()["copies"] == copies + 1
            versions.append(answer.json()["version"])
            done += 1
        return versions

    with ThreadPoolExecutor(max_workers=writers) as pool:
        per_writer = list(pool.map(increment, range(writers)))

    final = requests.get(url, timeout=30).json()
    assert final["copies"] == book["copies"] + writers * each  # no increment lost
    assert final["version"] == 1 + writers * each
    every = sorted(v for versions in per_writer for v in versions)
    assert every == list(range(2, 2 + writers * each))  # each version given to exactly one
    assert all(versions == sorted(versions) for versions in per_writer)
    history = requests.get(f"{url}/history?limit=100", timeout=30).json()
    assert [entry["version"] for entry in history] == list(range(1, 2 + writers * each))
    copies = [entry["changes"]["copies"]["to"] for entry in history[1:]]
    # Each change was made on the one before it.
    assert copies == list(range(book["copies"] + 1, book["copies"] + 1 + writers * each))
