"""Changing books over real HTTP: ETags and conditional requests (no lost updates), JSON Merge
Patch, and the history of every change, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import text

from common.db import Database
from tests.support.catalog import (
    BACKENDS,
    Catalog,
    assert_problem,
    catalog_fixture,
)

MERGE_PATCH = "application/merge-patch+json"


@pytest.fixture(scope="module", params=BACKENDS)
def catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Catalog]:
    yield from catalog_fixture(request, tmp_path_factory)


@pytest.fixture(scope="module", params=BACKENDS)
def strict_catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Catalog]:
    """A books service that requires If-Match on every change."""
    yield from catalog_fixture(request, tmp_path_factory, {"BOOKS_REQUIRE_IF_MATCH": "1"})


def patch(catalog: Catalog, book: dict[str, Any], body: Any, **headers: str) -> requests.Response:
    return catalog.request(
        "PATCH",
        f"/books/{book['id']}",
        json=body,
        headers={**catalog.librarian, "Content-Type": MERGE_PATCH, **headers},
    )


def put(catalog: Catalog, book: dict[str, Any], body: Any, **headers: str) -> requests.Response:
    return catalog.request(
        "PUT", f"/books/{book['id']}", json=body, headers={**catalog.librarian, **headers}
    )


def test_get_has_a_strong_etag_and_if_none_match_gives_304(catalog: Catalog) -> None:
    book = catalog.add()
    url = f"/books/{book['id']}"
    first = catalog.get(url)
    etag = first.headers["ETag"]
    assert etag == f'"{book["id"]}-1"' and not etag.startswith("W/")
    for header in (etag, f'"x", {etag}', "*", f"W/{etag}"):
        unchanged = catalog.request("GET", url, headers={"If-None-Match": header})
        assert unchanged.status_code == 304, header
        assert unchanged.content == b"" and unchanged.headers["ETag"] == etag
    assert catalog.request("GET", url, headers={"If-None-Match": '"x"'}).status_code == 200
    patch(catalog, book, {"copies": 2})
    changed = catalog.request("GET", url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] == f'"{book["id"]}-2"'
    assert changed.json()["copies"] == 2


def test_two_writers_with_the_same_etag_one_wins_the_other_gets_412(catalog: Catalog) -> None:
    book = catalog.add(title="Disputado", author="A")
    etag = catalog.get(f"/books/{book['id']}").headers["ETag"]
    one = put(catalog, book, {"title": "Versão A", "author": "A"}, **{"If-Match": etag})
    two = put(catalog, book, {"title": "Versão B", "author": "A"}, **{"If-Match": etag})
    assert one.status_code == 200 and one.headers["ETag"] == f'"{book["id"]}-2"'
    problem = assert_problem(two, 412)
    assert problem["current_version"] == 2
    assert problem["current_etag"] == one.headers["ETag"] == two.headers["ETag"]
    assert catalog.get(f"/books/{book['id']}").json()["title"] == "Versão A"
    # The loser reads again and retries with the new ETag.
    assert (
        put(
            catalog, book, {"title": "Versão B", "author": "A"}, **{"If-Match": two.headers["ETag"]}
        ).status_code
        == 200
    )


def test_concurrent_writers_with_one_etag_exactly_one_wins(catalog: Catalog) -> None:
    book = catalog.add(title="Corrida", author="A")
    etag = catalog.get(f"/books/{book['id']}").headers["ETag"]
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def write(i: int) -> None:
        barrier.wait()
        response = patch(catalog, book, {"title": f"Corredor {i}"}, **{"If-Match": etag})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [412] * 7
    final = catalog.get(f"/books/{book['id']}").json()
    assert final["version"] == 2
    history = catalog.get(f"/books/{book['id']}/history").json()
    assert [h["action"] for h in history] == ["created", "updated"]


@pytest.mark.parametrize(
    ("if_match", "status"),
    [
        ("*", 200),
        ('"{id}-1"', 200),
        ('"nope", "{id}-1"', 200),
        ('W/"{id}-1"', 412),  # weak ETags never match a change (strong comparison)
        ('"{id}-2"', 412),
        ('"{other}-1"', 412),  # another book's ETag
        ("", 412),  # an empty list of ETags: none matches
    ],
)
def test_if_match_forms(catalog: Catalog, if_match: str, status: int) -> None:
    book, other = catalog.add(), catalog.add()
    header = if_match.format(id=book["id"], other=other["id"])
    response = patch(catalog, book, {"copies": 5}, **{"If-Match": header})
    assert response.status_code == status, response.text
    expected_copies = 5 if status == 200 else 1
    assert catalog.get(f"/books/{book['id']}").json()["copies"] == expected_copies


@pytest.mark.parametrize("if_match", ["{id}-1", '"{id}-1', "{id}-1, *", "garbage"])
def test_if_match_that_is_no_entity_tag_is_refused(catalog: Catalog, if_match: str) -> None:
    """RFC 9110 requires quoted ETags: an unquoted one is a 422 saying so, never a match."""
    book = catalog.add()
    header = {"If-Match": if_match.format(id=book["id"])}
    for response in (
        patch(catalog, book, {"copies": 5}, **header),
        put(catalog, book, {"title": "Outro", "author": "B"}, **header),
        catalog.request("DELETE", f"/books/{book['id']}", headers={**catalog.librarian, **header}),
    ):
        problem = assert_problem(response, 422)
        assert [e["field"] for e in problem["errors"]] == ["If-Match"]
        assert "quoted" in problem["errors"][0]["message"]
    assert catalog.get(f"/books/{book['id']}").json() == book


def test_stale_deletes_and_writes_without_if_match(catalog: Catalog) -> None:
    book = catalog.add()
    url = f"/books/{book['id']}"
    stale = f'"{book["id"]}-1"'
    patch(catalog, book, {"copies": 2})
    assert_problem(
        catalog.request("DELETE", url, headers={**catalog.librarian, "If-Match": stale}), 412
    )
    assert catalog.get(url).status_code == 200
    # Without If-Match the spec's requests still work.
    assert put(catalog, book, {"title": "Sem condição", "author": "B"}).status_code == 200
    assert catalog.request("DELETE", url, headers=catalog.librarian).status_code == 204
    # A book that is gone is 404 whatever the If-Match.
    assert_problem(
        catalog.request("DELETE", url, headers={**catalog.librarian, "If-Match": "*"}), 404
    )


def test_if_match_can_be_required(strict_catalog: Catalog) -> None:
    catalog = strict_catalog
    book = catalog.add()
    url = f"/books/{book['id']}"
    for method, body in (
        ("PUT", {"title": "t", "author": "a"}),
        ("PATCH", {"copies": 2}),
        ("DELETE", None),
    ):
        problem = assert_problem(
            catalog.request(method, url, json=body, headers=catalog.librarian), 428
        )
        assert "If-Match" in problem["detail"]
    assert catalog.get(url).json()["version"] == 1
    etag = catalog.get(url).headers["ETag"]
    changed = catalog.request(
        "PATCH", url, json={"copies": 2}, headers={**catalog.librarian, "If-Match": etag}
    )
    assert changed.status_code == 200
    # Creating and reading need nothing.
    assert catalog.post({"title": "Novo", "author": "A"}).status_code == 201


def test_merge_patch_replaces_removes_and_keeps(catalog: Catalog) -> None:
    book = catalog.add(
        title="Remendo",
        author="P",
        publisher="Velha",
        page_count=10,
        subjects=["A", "B"],
        description="Texto",
    )
    response = catalog.request(
        "PATCH",
        f"/books/{book['id']}",
        data='{"publisher": null, "page_count": 20, "subjects": ["C"]}',
        headers={**catalog.librarian, "Content-Type": MERGE_PATCH},
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["publisher"] is None and patched["page_count"] == 20
    assert patched["subjects"] == ["C"]  # arrays are replaced whole
    assert patched["description"] == "Texto" and patched["title"] == "Remendo"
    assert patched["version"] == 2 and response.headers["ETag"] == f'"{book["id"]}-2"'
    # application/json is taken as a merge patch too.
    plain = catalog.request(
        "PATCH", f"/books/{book['id']}", json={"copies": 4}, headers=catalog.librarian
    )
    assert plain.json()["copies"] == 4
    # null resets copies to its default; an empty patch is a mistake, and changes nothing.
    assert patch(catalog, book, {"copies": None}).json()["copies"] == 1
    empty = patch(catalog, book, {})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["type"] == "nothing_to_change"
    assert catalog.get(f"/books/{book['id']}").json()["version"] == patched["version"] + 2


def test_merge_patch_keeps_derived_pairs_consistent(catalog: Catalog) -> None:
    book = catalog.add(title="Par", author="Um; Dois", published_date="1999-05")
    assert patch(catalog, book, {"authors": ["Três", "Quatro"]}).json()["author"] == "Três; Quatro"
    assert patch(catalog, book, {"author": "Cinco & Seis"}).json()["authors"] == ["Cinco", "Seis"]
    assert patch(catalog, book, {"author": None}).json()["author"] == "Cinco; Seis"
    dated = patch(catalog, book, {"published_date": "2001-02-03"}).json()
    assert dated["published_year"] == 2001
    assert patch(catalog, book, {"published_date": None}).json()["published_year"] == 2001
    conflict = patch(catalog, book, {"published_year": 1990, "published_date": "1991"})
    assert_problem(conflict, 422)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"title": None}, "title", "cannot be removed"),
        ({"title": ""}, "title", "must not be empty"),
        ({"author": None, "authors": None}, "body", "cannot both be removed"),
        ({"isbn": "bad"}, "isbn", "ISBN"),
        ({"copies": "2"}, "copies", "valid integer"),
        ({"language": "zz"}, "language", "ISO 639"),
        ({"cover_url": "data:image/png;base64,AAAA"}, "cover_url", "http or https"),
    ],
)
def test_invalid_patches_are_422_and_change_nothing(
    catalog: Catalog, body: dict[str, Any], field: str, message: str
) -> None:
    book = catalog.add()
    problem = assert_problem(patch(catalog, book, body), 422)
    assert any(e["field"] == field and message in e["message"] for e in problem["errors"]), problem
    assert catalog.get(f"/books/{book['id']}").json() == book


def test_patch_media_types_and_bodies(catalog: Catalog) -> None:
    book = catalog.add()
    url = f"/books/{book['id']}"
    json_patch = catalog.request(
        "PATCH",
        url,
        data='[{"op": "replace", "path": "/copies", "value": 2}]',
        headers={**catalog.librarian, "Content-Type": "application/json-patch+json"},
    )
    problem = assert_problem(json_patch, 415)
    assert json_patch.headers["Accept-Patch"] == "application/json, application/merge-patch+json"
    assert "merge-patch" in problem["detail"]
    array = catalog.request(
        "PATCH", url, data="[]", headers={**catalog.librarian, "Content-Type": MERGE_PATCH}
    )
    assert_problem(array, 422)
    assert_problem(
        catalog.request(
            "PATCH", url, data="{", headers={**catalog.librarian, "Content-Type": MERGE_PATCH}
        ),
        400,
    )
    assert_problem(catalog.request("PATCH", url, json={"copies": 2}), 401)
    assert_problem(catalog.request("PATCH", url, json={"copies": 2}, headers=catalog.reader), 403)
    assert_problem(patch(catalog, {"id": 2**31}, {"copies": 2}), 404)
    assert catalog.get(url).json() == book


def test_history_records_who_changed_what_from_what_to_what(catalog: Catalog) -> None:
    book = catalog.add(title="Histórico", author="H", subjects=["Um"])
    url = f"/books/{book['id']}"
    patch(catalog, book, {"copies": 2, "subjects": ["Um", "Dois"]})
    put(
        catalog,
        book,
        {"title": "Histórico", "author": "H", "copies": 2, "subjects": ["Um", "Dois"]},
    )
    assert catalog.request("DELETE", url, headers=catalog.librarian).status_code == 204
    assert catalog.request("POST", f"{url}/restore", headers=catalog.admin).status_code == 200
    patch(
        catalog,
        book,
        {"title": "Histórico Revisto"},
        **{"Authorization": catalog.admin["Authorization"]},
    )
    history = catalog.get(f"{url}/history").json()
    librarian, admin = book["created_by"], "chief"
    assert history == [
        {
            "version": 1,
            "action": "created",
            "changed_at": book["created_at"],
            "changed_by": librarian,
            "changes": {
                "title": {"from": None, "to": "Histórico"},
                "author": {"from": None, "to": "H"},
                "authors": {"from": None, "to": ["H"]},
                "subjects": {"from": None, "to": ["Um"]},
                "copies": {"from": None, "to": 1},
            },
        },
        {
            "version": 2,
            "action": "updated",
            "changed_at": history[1]["changed_at"],
            "changed_by": librarian,
            "changes": {
                "subjects": {"from": ["Um"], "to": ["Um", "Dois"]},
                "copies": {"from": 1, "to": 2},
            },
        },
        # The PUT that changed nothing made no version and no entry.
        {
            "version": 3,
            "action": "deleted",
            "changed_at": history[2]["changed_at"],
            "changed_by": librarian,
            "changes": {},
        },
        {
            "version": 4,
            "action": "restored",
            "changed_at": history[3]["changed_at"],
            "changed_by": admin,
            "changes": {},
        },
        {
            "version": 5,
            "action": "updated",
            "changed_at": history[4]["changed_at"],
            "changed_by": admin,
            "changes": {"title": {"from": "Histórico", "to": "Histórico Revisto"}},
        },
    ]
    stamps = [h["changed_at"] for h in history]
    assert stamps == sorted(stamps)
    current = catalog.get(url).json()
    assert current["version"] == 5 and current["updated_by"] == admin
    assert current["updated_at"] == history[-1]["changed_at"]


def test_history_comes_in_pages(catalog: Catalog) -> None:
    book = catalog.add(copies=0)
    for copies in range(1, 8):
        patch(catalog, book, {"copies": copies})
    first = catalog.get(f"/books/{book['id']}/history", limit=3)
    assert first.headers["X-Total-Count"] == "8"
    assert [h["version"] for h in first.json()] == [1, 2, 3]
    walked = catalog.walk(f"/books/{book['id']}/history?limit=3")
    assert [h["version"] for h in walked] == list(range(1, 9))
    assert_problem(catalog.get(f"/books/{book['id']}/history", limit=0), 422)
    assert_problem(catalog.get(f"/books/{book['id']}/history", cursor="zzz"), 422)
    assert_problem(catalog.get("/books/999999999/history"), 404)


def test_a_patch_does_not_judge_values_stored_under_older_rules(catalog: Catalog) -> None:
    """Rules only tighten: a 979-0 ISBN (an ISMN) or a cover URL with a password in it were
    accepted once. A patch that leaves such a field alone must still work; a patch that sets
    one is judged by today's rules."""
    book = catalog.add(title="Partitura Antiga", author="Compositor")
    database = Database(catalog.stack.database_url("books"))
    try:
        with database.engine.begin() as connection:
            connection.execute(
                text("UPDATE books SET isbn = :isbn, cover_url = :cover WHERE id = :id"),
                {"isbn": "9790260000438", "cover": "https://u:p@ex.org/c.jpg", "id": book["id"]},
            )
    finally:
        database.dispose()
    url = f"/books/{book['id']}"
    patched = catalog.request("PATCH", url, json={"copies": 2}, headers=catalog.librarian)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["copies"], patched.json()["isbn"]) == (2, "9790260000438")
    assert patched.json()["cover_url"] == "https://u:p@ex.org/c.jpg"
    # Setting them, or another invalid field, is judged as always.
    for body, field in (
        ({"isbn": "979-0-2600-0043-8"}, "isbn"),
        ({"cover_url": "https://u:p@ex.org/d.jpg"}, "cover_url"),
        ({"page_count": 0}, "page_count"),
    ):
        refused = assert_problem(
            catalog.request("PATCH", url, json=body, headers=catalog.librarian), 422
        )
        assert [e["field"] for e in refused["errors"]] == [field], refused
    assert catalog.get(url).json()["version"] == patched.json()["version"]
