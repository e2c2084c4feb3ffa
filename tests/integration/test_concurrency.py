"""Several writers at once, across worker processes: nothing lost, nothing locked, no 5xx."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support.harness import STRONG_PASSWORD, Stack


def test_twenty_concurrent_posts_make_exactly_twenty_books(stack: Stack) -> None:
    token = stack.token()
    before = {book["id"] for book in stack.list_books()}
    marker = f"concurrent-{stack.backend}"

    def post(i: int) -> requests.Response:
        return requests.post(
            f"{stack.books_url}/books",
            json={"title": f"{marker} {i}", "author": "Many Hands"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(post, range(20)))
    assert [r.status_code for r in responses] == [201] * 20
    after = stack.list_books()
    new = [book for book in after if book["id"] not in before]
    assert sorted(book["title"] for book in new) == sorted(f"{marker} {i}" for i in range(20))
    assert len({book["id"] for book in new}) == 20


def test_concurrent_updates_and_deletes_never_5xx(stack: Stack) -> None:
    token = stack.token()
    books = [stack.add_book(token, title=f"race {i}") for i in range(5)]
    headers = {"Authorization": f"Bearer {token}"}

    def hammer(i: int) -> int:
        book = books[i % 5]
        if i % 3 == 0:
            return requests.delete(
                f"{stack.books_url}/books/{book['id']}", headers=headers, timeout=30
            ).status_code
        return requests.put(
            f"{stack.books_url}/books/{book['id']}",
            json={"title": f"race {i}", "author": "x"},
            headers=headers,
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(max_workers=15) as pool:
        statuses = list(pool.map(hammer, range(30)))
    assert set(statuses) <= {200, 204, 404}
    remaining = {b["id"] for b in stack.list_books()}
    assert not remaining & {book["id"] for book in books}  # every one was deleted in the end


def test_concurrent_registrations_of_one_name_make_one_user(stack: Stack) -> None:
    name = f"contested_{stack.backend}"

    def register(_: int) -> int:
        return requests.post(
            f"{stack.auth_url}/register",
            json={"username": name, "password": STRONG_PASSWORD},
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(register, range(8)))
    assert sorted(statuses) == [201] + [409] * 7
