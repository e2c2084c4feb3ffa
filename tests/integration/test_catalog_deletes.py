"""Recoverable deletes over real HTTP: deleted books vanish from every read, administrators
(and only they) list, read, restore and purge them, and the counts stay right, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.catalog import (
    BACKENDS,
    Catalog,
    assert_problem,
    catalog_fixture,
)


@pytest.fixture(scope="module", params=BACKENDS)
def catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Catalog]:
    yield from catalog_fixture(request, tmp_path_factory)


def delete(catalog: Catalog, book_id: int) -> None:
    response = catalog.request("DELETE", f"/books/{book_id}", headers=catalog.librarian)
    assert response.status_code == 204, response.text


def test_a_deleted_book_is_gone_from_every_read(catalog: Catalog) -> None:
    book = catalog.add(title="Sumido", author="Fantasma", subjects=["Mistério"], language="pt")
    url = f"/books/{book['id']}"
    delete(catalog, book["id"])
    assert_problem(catalog.get(url), 404)
    assert_problem(catalog.get(f"{url}/history"), 404)
    assert book["id"] not in {b["id"] for b in catalog.walk("/books?limit=500")}
    for params in ({"q": "sumido"}, {"author": "fantasma"}, {"subject": "misterio"}):
        assert catalog.books(**params).json() == [], params
    for method, body in (
        ("PUT", {"title": "t", "author": "a"}),
        ("PATCH", {"copies": 2}),
        ("DELETE", None),
    ):
        assert_problem(catalog.request(method, url, json=body, headers=catalog.librarian), 404)


def test_only_administrators_see_restore_and_purge(catalog: Catalog) -> None:
    book = catalog.add()
    delete(catalog, book["id"])
    admin_only = [
        ("GET", "/books/deleted"),
        ("GET", f"/books/deleted/{book['id']}"),
        ("GET", f"/books/deleted/{book['id']}/history"),
        ("POST", f"/books/{book['id']}/restore"),
        ("DELETE", f"/books/deleted/{book['id']}"),
    ]
    for method, path in admin_only:
        assert_problem(catalog.request(method, path), 401)
        assert_problem(catalog.request(method, path, headers=catalog.reader), 403)
        assert_problem(catalog.request(method, path, headers=catalog.librarian), 403)
        # Who may ask is settled before what was asked: a malformed query is still a 403.
        odd = f"{path}?limit=abc&cursor=!&allow_duplicate=perhaps"
        assert_problem(catalog.request(method, odd, headers=catalog.reader), 403)
        assert_problem(catalog.request(method, odd), 401)
    # Readers cannot delete either; librarians can.
    other = catalog.add()
    assert_problem(catalog.request("DELETE", f"/books/{other['id']}", headers=catalog.reader), 403)
    admin_read = catalog.request("GET", f"/books/deleted/{book['id']}", headers=catalog.admin)
    assert admin_read.status_code == 200


def test_administrators_list_read_and_restore_deleted_books(catalog: Catalog) -> None:
    books = [catalog.add(title=f"Apagar {i}") for i in range(3)]
    for book in books:
        delete(catalog, book["id"])
    deleted = catalog.walk("/books/deleted?limit=2", headers=catalog.admin)
    ids = [b["id"] for b in deleted]
    assert ids[:3] == [b["id"] for b in reversed(books)]  # most recently deleted first
    first = deleted[0]
    assert first["deleted_by"] == books[-1]["created_by"] and first["deleted_at"].endswith("Z")
    assert first["version"] == 2
    one = catalog.request("GET", f"/books/deleted/{books[0]['id']}", headers=catalog.admin)
    assert one.json()["title"] == "Apagar 0" and "deleted_at" in one.json()
    history = catalog.request(
        "GET", f"/books/deleted/{books[0]['id']}/history", headers=catalog.admin
    )
    assert [h["action"] for h in history.json()] == ["created", "deleted"]

    restored = catalog.request("POST", f"/books/{books[0]['id']}/restore", headers=catalog.admin)
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert body["version"] == 3 and body["updated_by"] == "chief" and "deleted_at" not in body
    assert restored.headers["ETag"] == f'"{books[0]["id"]}-3"'
    assert catalog.get(f"/books/{books[0]['id']}").json() == body
    assert_problem(
        catalog.request("POST", f"/books/{books[0]['id']}/restore", headers=catalog.admin), 404
    )
    assert_problem(
        catalog.request("GET", f"/books/deleted/{books[0]['id']}", headers=catalog.admin), 404
    )
    assert_problem(catalog.request("POST", "/books/999999999/restore", headers=catalog.admin), 404)


def test_restoring_into_a_taken_isbn_is_a_conflict(catalog: Catalog) -> None:
    first = catalog.add(title="Primeiro", isbn="979-10-90636-07-1")
    delete(catalog, first["id"])
    second = catalog.add(title="Segundo", isbn="9791090636071")  # the deleted one does not block
    problem = assert_problem(
        catalog.request("POST", f"/books/{first['id']}/restore", headers=catalog.admin), 409
    )
    assert problem["existing_id"] == second["id"]
    assert catalog.get(f"/books/{first['id']}").status_code == 404


def test_restoring_a_title_and_author_taken_meanwhile_needs_allow_duplicate(
    catalog: Catalog,
) -> None:
    """Restoring follows the rule adding does: a live book with the same title and authors
    (and no ISBN) is a 409 naming it, unless the administrator means it."""
    first = catalog.add(query="", title="Tenda dos Milagres", author="Jorge Amado")
    delete(catalog, first["id"])
    second = catalog.add(query="", title="TENDA dos milagres", author="jorge amado")
    restore = f"/books/{first['id']}/restore"
    problem = assert_problem(catalog.request("POST", restore, headers=catalog.admin), 409)
    assert problem["existing_id"] == second["id"]
    assert problem["existing"] == f"/books/{second['id']}"
    assert "allow_duplicate" in problem["detail"]
    refused = catalog.request("POST", restore, headers=catalog.admin)
    assert refused.headers["Link"] == f'</books/{second["id"]}>; rel="related"'
    assert catalog.get(f"/books/{first['id']}").status_code == 404
    meant = catalog.request("POST", f"{restore}?allow_duplicate=true", headers=catalog.admin)
    assert meant.status_code == 200, meant.text
    assert meant.json()["version"] == 3
    # allow_duplicate is never for the same ISBN.
    with_isbn = catalog.add(title="Capitães da Areia", isbn="978-85-359-1106-0")
    delete(catalog, with_isbn["id"])
    catalog.add(title="Outro", isbn="8535911065")
    taken = catalog.request(
        "POST", f"/books/{with_isbn['id']}/restore?allow_duplicate=true", headers=catalog.admin
    )
    assert_problem(taken, 409)


def test_purging_removes_a_deleted_book_for_good(catalog: Catalog) -> None:
    live = catalog.add()
    assert_problem(
        catalog.request("DELETE", f"/books/deleted/{live['id']}", headers=catalog.admin), 404
    )  # delete it first
    book = catalog.add(title="Para sempre")
    delete(catalog, book["id"])
    purge = f"/books/deleted/{book['id']}"
    assert catalog.request("DELETE", purge, headers=catalog.admin).status_code == 204
    assert_problem(catalog.request("DELETE", purge, headers=catalog.admin), 404)
    assert_problem(catalog.request("GET", purge, headers=catalog.admin), 404)
    assert_problem(catalog.request("GET", f"{purge}/history", headers=catalog.admin), 404)
    assert_problem(
        catalog.request("POST", f"/books/{book['id']}/restore", headers=catalog.admin), 404
    )
    assert book["id"] not in {
        b["id"] for b in catalog.walk("/books/deleted?limit=500", headers=catalog.admin)
    }
    # Its id is never given to another book (an old ETag can never match a new book).
    newer = catalog.add()
    assert newer["id"] > book["id"]


def test_counts_follow_deletes_restores_and_purges(catalog: Catalog) -> None:
    def counts() -> tuple[int, int]:
        live = catalog.books()
        deleted = catalog.request("GET", "/books/deleted", headers=catalog.admin)
        return int(live.headers["X-Total-Count"]), int(deleted.headers["X-Total-Count"])

    live, deleted = counts()
    assert live == len(catalog.walk("/books?limit=500"))
    assert deleted == len(catalog.walk("/books/deleted?limit=500", headers=catalog.admin))
    books = [catalog.add() for _ in range(3)]
    assert counts() == (live + 3, deleted)
    for book in books:
        delete(catalog, book["id"])
    assert counts() == (live, deleted + 3)
    catalog.request("POST", f"/books/{books[0]['id']}/restore", headers=catalog.admin)
    catalog.request("DELETE", f"/books/deleted/{books[1]['id']}", headers=catalog.admin)
    assert counts() == (live + 1, deleted + 1)
    assert counts()[0] == len(catalog.walk("/books?limit=500"))
