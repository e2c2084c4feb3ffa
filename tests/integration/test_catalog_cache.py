"""Pages of ``GET /books`` are cached per worker under the catalog's version and answered 304
under their ETag: never stale. Over real HTTP, two workers, SQLite and PostgreSQL: a page read
(and so cached) before a write, an update, a delete, a restore or a purge shows the change at
once from every worker; a 304 stops as soon as the catalog changes; the count follows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.catalog import BACKENDS, Catalog, catalog_fixture

# Each GET opens a new connection, so the two workers take turns at random: this many reads
# reach both with near certainty (a chance of 2**-19 that one worker sees none of them).
READS = 20


@pytest.fixture(scope="module", params=BACKENDS)
def catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Catalog]:
    yield from catalog_fixture(request, tmp_path_factory)


def pages(catalog: Catalog, **params: Any) -> list[requests.Response]:
    """The same page read READS times, each on a fresh connection (either worker)."""
    answers = [catalog.books(**params) for _ in range(READS)]
    assert len({a.content for a in answers}) == 1, "workers disagreed about one catalog"
    return answers


def titles(answer: requests.Response) -> set[str]:
    return {book["title"] for book in answer.json()}


def test_a_page_read_before_a_change_shows_it_after_from_every_worker(catalog: Catalog) -> None:
    word = f"cache{uuid.uuid4().hex[:8]}"
    query = {"q": word, "limit": 50}
    before = pages(catalog, **query)
    assert before[0].json() == []
    assert before[0].headers["X-Total-Count"] == "0"

    book = catalog.add(title=f"Livro {word}", author="Ana Autora")
    after_add = pages(catalog, **query)
    assert titles(after_add[-1]) == {f"Livro {word}"}
    assert after_add[-1].headers["X-Total-Count"] == "1"

    put = catalog.request(
        "PUT",
        f"/books/{book['id']}",
        json={"title": f"Outro {word}", "author": "Ana Autora"},
        headers={**catalog.librarian, "If-Match": f'"{book["id"]}-{book["version"]}"'},
    )
    assert put.status_code == 200, put.text
    assert titles(pages(catalog, **query)[-1]) == {f"Outro {word}"}

    patch = catalog.request(
        "PATCH",
        f"/books/{book['id']}",
        json={"subtitle": "volume dois"},
        headers={**catalog.librarian, "Content-Type": "application/merge-patch+json"},
    )
    assert patch.status_code == 200, patch.text
    assert pages(catalog, **query)[-1].json()[0]["subtitle"] == "volume dois"

    deleted = catalog.request("DELETE", f"/books/{book['id']}", headers=catalog.librarian)
    assert deleted.status_code == 204, deleted.text
    after_delete = pages(catalog, **query)
    assert after_delete[-1].json() == []
    assert after_delete[-1].headers["X-Total-Count"] == "0"

    restored = catalog.request("POST", f"/books/{book['id']}/restore", headers=catalog.admin)
    assert restored.status_code == 200, restored.text
    assert titles(pages(catalog, **query)[-1]) == {f"Outro {word}"}


def test_the_whole_catalogs_count_follows_deletes_and_purges(catalog: Catalog) -> None:
    start = int(pages(catalog)[-1].headers["X-Total-Count"])
    book = catalog.add()
    assert int(pages(catalog)[-1].headers["X-Total-Count"]) == start + 1
    deleted = catalog.request("DELETE", f"/books/{book['id']}", headers=catalog.librarian)
    assert deleted.status_code == 204, deleted.text
    assert int(pages(catalog)[-1].headers["X-Total-Count"]) == start
    newest = pages(catalog, sort="-created_at", limit=5)[-1]
    purged = catalog.request("DELETE", f"/books/deleted/{book['id']}", headers=catalog.admin)
    assert purged.status_code == 204, purged.text
    after = pages(catalog, sort="-created_at", limit=5)[-1]
    assert int(after.headers["X-Total-Count"]) == start
    assert after.headers["ETag"] != newest.headers["ETag"]  # a purge is a change too
    assert book["id"] not in {b["id"] for b in after.json()}


def test_a_page_is_not_modified_until_the_catalog_changes(catalog: Catalog) -> None:
    first = pages(catalog, limit=7)
    etag = first[0].headers["ETag"]
    assert etag.startswith('W/"')
    assert {a.headers["ETag"] for a in first} == {etag}  # every worker gives the same one
    for _ in range(READS):
        again = catalog.request(
            "GET", "/books", params={"limit": 7}, headers={"If-None-Match": etag}
        )
        assert again.status_code == 304, again.text
        assert again.headers["ETag"] == etag
        assert again.content == b""
    # Another page (another size, say) has another ETag: it is not the same representation.
    other = catalog.books(limit=8).headers["ETag"]
    assert other != etag
    assert (
        catalog.request(
            "GET", "/books", params={"limit": 8}, headers={"If-None-Match": etag}
        ).status_code
        == 200
    )

    book = catalog.add()
    changed = None
    for _ in range(READS):
        changed = catalog.request(
            "GET", "/books", params={"limit": 7}, headers={"If-None-Match": etag}
        )
        assert changed.status_code == 200, changed.text
        assert changed.headers["ETag"] != etag
    assert changed is not None
    # A change that leaves this very page as it was still makes a new ETag: the version is the
    # catalog's, not the page's, so a 304 can never hide a change.
    assert catalog.books(limit=7).headers["ETag"] == changed.headers["ETag"]
    assert book["id"] in {b["id"] for b in catalog.walk("/books?limit=500")}


def test_an_unchanged_write_changes_no_etag(catalog: Catalog) -> None:
    book = catalog.add()
    etag = pages(catalog, limit=3)[-1].headers["ETag"]
    same = catalog.request(
        "PUT",
        f"/books/{book['id']}",
        json={"title": book["title"], "author": book["author"]},
        headers=catalog.librarian,
    )
    assert same.status_code == 200, same.text
    assert same.json()["version"] == book["version"]  # nothing changed: no new version
    assert catalog.books(limit=3).headers["ETag"] == etag


def test_a_refused_write_changes_nothing_cached(catalog: Catalog) -> None:
    book = catalog.add(title=f"Único {uuid.uuid4().hex[:6]}", author="Bia")
    etag = pages(catalog, limit=3)[-1].headers["ETag"]
    duplicate = catalog.post({"title": book["title"], "author": "Bia"})
    assert duplicate.status_code == 409, duplicate.text
    assert catalog.books(limit=3).headers["ETag"] == etag


def book_reads(catalog: Catalog, book_id: int) -> requests.Response:
    """The same book read READS times, each on a fresh connection (either worker); the last."""
    answers = [catalog.request("GET", f"/books/{book_id}") for _ in range(READS)]
    assert len({(a.status_code, a.content) for a in answers}) == 1, "workers disagreed"
    return answers[-1]


def test_a_book_read_before_a_change_shows_it_after_from_every_worker(catalog: Catalog) -> None:
    book = catalog.add(title=f"Livro {uuid.uuid4().hex[:8]}", author="Ana Autora")
    first = book_reads(catalog, book["id"])
    assert first.json() == book
    assert first.headers["ETag"] == f'"{book["id"]}-{book["version"]}"'

    put = catalog.request(
        "PUT",
        f"/books/{book['id']}",
        json={"title": "Outro título", "author": "Ana Autora"},
        headers=catalog.librarian,
    )
    assert put.status_code == 200, put.text
    after_put = book_reads(catalog, book["id"])
    assert after_put.json() == put.json()
    assert after_put.json()["title"] == "Outro título"
    assert after_put.headers["ETag"] == put.headers["ETag"] != first.headers["ETag"]

    patch = catalog.request(
        "PATCH",
        f"/books/{book['id']}",
        json={"subtitle": "volume dois"},
        headers={**catalog.librarian, "Content-Type": "application/merge-patch+json"},
    )
    assert patch.status_code == 200, patch.text
    assert book_reads(catalog, book["id"]).json() == patch.json()

    deleted = catalog.request("DELETE", f"/books/{book['id']}", headers=catalog.librarian)
    assert deleted.status_code == 204, deleted.text
    assert book_reads(catalog, book["id"]).status_code == 404

    restored = catalog.request("POST", f"/books/{book['id']}/restore", headers=catalog.admin)
    assert restored.status_code == 200, restored.text
    after_restore = book_reads(catalog, book["id"])
    assert after_restore.status_code == 200
    assert after_restore.json() == restored.json()

    deleted = catalog.request("DELETE", f"/books/{book['id']}", headers=catalog.librarian)
    assert deleted.status_code == 204, deleted.text
    purged = catalog.request("DELETE", f"/books/deleted/{book['id']}", headers=catalog.admin)
    assert purged.status_code == 204, purged.text
    assert book_reads(catalog, book["id"]).status_code == 404


def test_a_book_is_not_modified_until_it_changes(catalog: Catalog) -> None:
    book = catalog.add()
    etag = book_reads(catalog, book["id"]).headers["ETag"]
    for _ in range(READS):
        again = catalog.request("GET", f"/books/{book['id']}", headers={"If-None-Match": etag})
        assert again.status_code == 304, again.text
        assert again.headers["ETag"] == etag
    other = catalog.add()  # another book's change moves the catalog, not this book's ETag
    assert book_reads(catalog, other["id"]).status_code == 200
    for _ in range(READS):
        again = catalog.request("GET", f"/books/{book['id']}", headers={"If-None-Match": etag})
        assert again.status_code == 304, again.text
    patch = catalog.request(
        "PATCH",
        f"/books/{book['id']}",
        json={"subtitle": "mudou"},
        headers={**catalog.librarian, "Content-Type": "application/merge-patch+json"},
    )
    assert patch.status_code == 200, patch.text
    for _ in range(READS):
        changed = catalog.request("GET", f"/books/{book['id']}", headers={"If-None-Match": etag})
        assert changed.status_code == 200, changed.text
        assert changed.json()["subtitle"] == "mudou"
        assert changed.headers["ETag"] == patch.headers["ETag"]
