"""The catalog over real HTTP: records, duplicates, filters, sorting, search, pagination,
ETags, merge patches, history and recoverable deletes, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
import requests

from tests.integration.harness import Stack
from tests.integration.test_token_security import good_claims, sign_with_service_key


@pytest.fixture(scope="module")
def writer(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token()}"}


@pytest.fixture(scope="module")
def admin(stack: Stack) -> dict[str, str]:
    token = sign_with_service_key(stack, good_claims(roles=["admin"], username="chief"))
    return {"Authorization": f"Bearer {token}"}


def tag() -> str:
    return uuid.uuid4().hex[:10]


def post(
    stack: Stack, headers: dict[str, str], body: dict[str, Any], query: str = ""
) -> requests.Response:
    return requests.post(f"{stack.books_url}/books{query}", json=body, headers=headers, timeout=10)


def get_books(stack: Stack, **params: Any) -> requests.Response:
    response = requests.get(f"{stack.books_url}/books", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response


def test_a_full_record_round_trips(stack: Stack, writer: dict[str, str]) -> None:
    marker = tag()
    body = {
        "title": f"O Pequeno Príncipe {marker}",
        "subtitle": "com aquarelas do autor",
        "authors": ["Antoine de Saint-Exupéry"],
        "isbn": "0-306-40615-2",
        "publisher": "Agir",
        "published_date": "1943-04",
        "language": "pt",
        "page_count": 96,
        "subjects": ["Fábula", "Infantil", "Fábula"],
        "description": "Um piloto perdido no deserto.\nUm pequeno príncipe.",
        "cover_url": "https://example.org/cover.jpg",
        "series": "Clássicos",
        "series_index": 2,
        "copies": 3,
    }
    response = post(stack, writer, body)
    assert response.status_code == 201, response.text
    book = response.json()
    assert book["author"] == "Antoine de Saint-Exupéry"  # derived from authors
    assert book["isbn"] == "9780306406157" and book["isbn_10"] == "0306406152"
    assert book["published_year"] == 1943 and book["published_date"] == "1943-04"
    assert book["subjects"] == ["Fábula", "Infantil"]
    assert book["version"] == 1 and book["copies"] == 3 and book["series_index"] == 2.0
    assert book["created_by"] == book["updated_by"]
    fetched = requests.get(f"{stack.books_url}/books/{book['id']}", timeout=10)
    assert fetched.json() == book
    requests.delete(f"{stack.books_url}/books/{book['id']}", headers=writer, timeout=10)


def test_the_spec_request_still_works_and_fills_defaults(
    stack: Stack, writer: dict[str, str]
) -> None:
    response = post(stack, writer, {"title": f"Livro {tag()}", "author": "Ana; Bia & Caio"})
    book = response.json()
    assert response.status_code == 201
    assert book["authors"] == ["Ana", "Bia", "Caio"]
    assert book["copies"] == 1 and book["subjects"] == [] and book["isbn"] is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("isbn", "0-306-40615-3", "check digit"),
        ("isbn", "12345", "10 or 13"),
        ("language", "xx", "ISO 639"),
        ("language", 5, "valid string"),
        ("cover_url", "javascript:alert(1)", "http or https"),
        ("cover_url", "ftp://example.org/a.jpg", "http or https"),
        ("page_count", 0, "greater than or equal to 1"),
        ("copies", -1, "greater than or equal to 0"),
        ("published_date", "1943-13", "pattern"),
        ("published_year", "1943", "valid integer"),
        ("subjects", "not a list", "valid list"),
        ("authors", [], "author"),
        ("description", "x" * 10_001, "at most 10000"),
    ],
)
def test_each_field_is_validated(
    stack: Stack, writer: dict[str, str], field: str, value: Any, message: str
) -> None:
    body = {"title": f"Inválido {tag()}", "author": "Alguém", field: value}
    if field == "authors":
        body.pop("author")
    response = post(stack, writer, body)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(message in e["message"] or message in e["field"] for e in errors), errors


def test_duplicates_by_isbn_and_by_title_and_author(stack: Stack, writer: dict[str, str]) -> None:
    marker = tag()
    first = post(
        stack,
        writer,
        {
            "title": f"Dom Casmurro {marker}",
            "author": "Machado de Assis",
            "isbn": "978-85-359-0277-8",
        },
    )
    assert first.status_code == 201
    same_isbn = post(stack, writer, {"title": "Outro", "author": "X", "isbn": "9788535902778"})
    assert same_isbn.status_code == 409
    assert same_isbn.json()["existing"] == f"/books/{first.json()['id']}"
    # Same title and author (ignoring case, accents, spaces), no ISBN: refused unless meant.
    body = {"title": f"dom  casmurro {marker.upper()}", "author": "MACHADO DE ASSÍS"}
    second = post(stack, writer, {"title": f"Memorias {marker}", "author": "Machado"})
    assert second.status_code == 201
    again = post(stack, writer, {"title": f"Memórias {marker}", "author": "machado"})
    assert again.status_code == 409
    assert again.json()["existing_id"] == second.json()["id"]
    assert (
        post(
            stack,
            writer,
            {"title": f"Memórias {marker}", "author": "machado"},
            "?allow_duplicate=true",
        ).status_code
        == 201
    )
    # A book with an ISBN is told apart by it, not by its title.
    assert post(stack, writer, {**body, "isbn": "0-306-40615-2"}).status_code in (201, 409)


def test_filters(stack: Stack, writer: dict[str, str]) -> None:
    marker = tag()
    author = f"Autora {marker}"
    rows = [
        {
            "title": "A",
            "language": "pt",
            "subjects": ["Poesia"],
            "publisher": "Cia das Letras",
            "published_year": 1950,
        },
        {
            "title": "B",
            "language": "en",
            "subjects": ["poesia", "Drama"],
            "publisher": "Penguin",
            "published_year": 1990,
        },
        {
            "title": "C",
            "language": "pt",
            "subjects": ["Drama"],
            "publisher": "Penguin",
            "published_year": 2010,
            "isbn": "978-0-306-40615-7",
        },
    ]
    for row in rows:
        response = post(
            stack, writer, {**row, "title": f"{row['title']} {marker}", "author": author}
        )
        assert response.status_code in (201, 409), response.text

    def titles(**params: Any) -> list[str]:
        books = get_books(stack, author=marker, limit=500, **params).json()
        return sorted(b["title"].split()[0] for b in books)

    assert titles() == ["A", "B", "C"] or titles() == ["A", "B"]  # C's ISBN may exist already
    assert titles(language="pt") in (["A", "C"], ["A"])
    assert titles(subject="POESIA") == ["A", "B"]
    assert titles(publisher="penguin") in (["B", "C"], ["B"])
    assert titles(year_from=1960) in (["B", "C"], ["B"])
    assert titles(year_to=1990) == ["A", "B"]
    assert titles(year_from=1960, year_to=2000) == ["B"]
    assert titles(isbn="not an isbn") == []
    count = get_books(stack, author=marker).headers["X-Total-Count"]
    assert int(count) == len(titles())


def test_sorting_with_id_as_tie_breaker(stack: Stack, writer: dict[str, str]) -> None:
    marker = tag()
    for title, year in (("Beta", 2001), ("alfa", 1999), ("Ålfa", 1999), ("Gama", None)):
        body = {"title": f"{title} {marker}", "author": f"Sorter {marker}"}
        if year:
            body["published_year"] = year
        # "Ålfa" and "alfa" fold to the same title: a duplicate, added on purpose.
        assert post(stack, writer, body, "?allow_duplicate=true").status_code == 201

    def order(sort: str) -> list[str]:
        books = get_books(stack, author=marker, sort=sort).json()
        return [b["title"].split()[0] for b in books]

    assert order("title") == [
        "alfa",
        "Ålfa",
        "Beta",
        "Gama",
    ]  # accents and case folded, id breaks ties
    assert order("-title") == ["Gama", "Beta", "Ålfa", "alfa"]
    assert (
        order("-published_year")
        == ["Beta", "alfa", "Ålfa", "Gama"][:1] + order("-published_year")[1:]
    )
    assert order("-published_year")[0] == "Beta" and order("-published_year")[-1] == "Gama"
    assert order("created_at") == ["Beta", "alfa", "Ålfa", "Gama"]
    assert order("-id") == ["Gama", "Ålfa", "alfa", "Beta"]
    bad = requests.get(f"{stack.books_url}/books", params={"sort": "price"}, timeout=10)
    assert bad.status_code == 422


def test_search_ignores_accents_and_case_and_matches_prefixes(
    stack: Stack, writer: dict[str, str]
) -> None:
    marker = tag()
    post(
        stack,
        writer,
        {"title": f"Terra dos Homens {marker}", "author": "Antoine de Saint-Exupéry"},
        "?allow_duplicate=true",
    )
    post(
        stack,
        writer,
        {
            "title": f"Crônicas {marker}",
            "author": "Anônimo",
            "description": "Histórias de São Paulo antiga",
        },
    )

    def found(q: str) -> list[str]:
        books = get_books(stack, q=f"{q} {marker}").json()
        return [b["title"].split()[0] for b in books]

    assert found("exupery") == ["Terra"]
    assert found("EXUPÉRY") == ["Terra"]
    assert found("sao paulo") == ["Crônicas"]
    assert found("exup") == ["Terra"]  # as the user types
    assert found("cronicas") == ["Crônicas"]
    assert found("nonexistentword") == []
    assert get_books(stack, q='a" OR 1=1 --').status_code == 200  # operators are just text


def test_search_ranks_by_relevance(stack: Stack, writer: dict[str, str]) -> None:
    marker = tag()
    post(
        stack,
        writer,
        {
            "title": f"Um livro qualquer {marker}",
            "author": "Fulano",
            "description": "menciona dragão uma vez",
        },
    )
    post(
        stack,
        writer,
        {
            "title": f"Dragão {marker}",
            "author": "Dragão Escritor",
            "subjects": ["dragão"],
            "description": "dragão, dragão e dragão",
        },
    )
    books = get_books(stack, q=f"dragao {marker}").json()
    assert [b["title"].split()[0] for b in books] == ["Dragão", "Um"]


def walk(stack: Stack, url: str) -> list[dict[str, Any]]:
    seen = []
    while url:
        response = requests.get(stack.books_url + url, timeout=10)
        assert response.status_code == 200
        seen += response.json()
        url = response.links.get("next", {}).get("url")
    return seen


def test_pages_walk_the_catalog_exactly_once_while_books_are_added(
    stack: Stack, writer: dict[str, str]
) -> None:
    marker = tag()
    for i in range(23):
        post(stack, writer, {"title": f"Page {i:02d} {marker}", "author": f"Pager {marker}"})
    before = {b["id"] for b in walk(stack, f"/books?author={marker}&limit=100")}
    stop = threading.Event()

    def add_more() -> None:
        i = 100
        while not stop.is_set():
            post(stack, writer, {"title": f"Page {i} {marker}", "author": f"Pager {marker}"})
            i += 1

    adder = threading.Thread(target=add_more)
    adder.start()
    try:
        for sort in ("id", "-title", "created_at"):
            pages = walk(stack, f"/books?author={marker}&limit=5&sort={sort}")
            ids = [b["id"] for b in pages]
            assert len(ids) == len(set(ids)), "a book appeared twice"
            assert before <= set(ids), "a book that was there all along was skipped"
    finally:
        stop.set()
        adder.join()


def test_link_headers(stack: Stack, writer: dict[str, str]) -> None:
    marker = tag()
    for i in range(7):
        post(stack, writer, {"title": f"Link {i} {marker}", "author": f"Linker {marker}"})
    first = get_books(stack, author=marker, limit=3)
    assert first.headers["X-Total-Count"] == "7"
    assert set(first.links) == {"first", "next", "last"}
    second = requests.get(stack.books_url + first.links["next"]["url"], timeout=10)
    assert set(second.links) == {"first", "prev", "next", "last"}
    back = requests.get(stack.books_url + second.links["prev"]["url"], timeout=10)
    assert back.json() == first.json()
    last = requests.get(stack.books_url + first.links["last"]["url"], timeout=10)
    assert [b["title"] for b in last.json()] == [f"Link {i} {marker}" for i in (4, 5, 6)]
    assert "next" not in last.links and "prev" in last.links
    for bad in ("garbage", "eyJ2IjpbMSwyXSwiYiI6dHJ1ZX0", "%%%"):
        response = requests.get(f"{stack.books_url}/books", params={"cursor": bad}, timeout=10)
        assert response.status_code == 422
    assert (
        requests.get(f"{stack.books_url}/books", params={"limit": 501}, timeout=10).status_code
        == 422
    )


def test_etags_and_conditional_requests(stack: Stack, writer: dict[str, str]) -> None:
    book = post(stack, writer, {"title": f"Etag {tag()}", "author": "E"}).json()
    url = f"{stack.books_url}/books/{book['id']}"
    first = requests.get(url, timeout=10)
    etag = first.headers["ETag"]
    assert etag == f'"{book["id"]}-1"'
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=10).status_code == 304
    # Two writers both read version 1: the first wins, the second gets 412 with the version.
    one = requests.put(
        url,
        json={"title": "Etag A", "author": "E"},
        headers={**writer, "If-Match": etag},
        timeout=10,
    )
    two = requests.put(
        url,
        json={"title": "Etag B", "author": "E"},
        headers={**writer, "If-Match": etag},
        timeout=10,
    )
    assert one.status_code == 200 and one.headers["ETag"] == f'"{book["id"]}-2"'
    assert two.status_code == 412
    assert two.json()["current_version"] == 2
    assert requests.get(url, timeout=10).json()["title"] == "Etag A"
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=10).status_code == 200
    stale_delete = requests.delete(url, headers={**writer, "If-Match": etag}, timeout=10)
    assert stale_delete.status_code == 412
    assert (
        requests.delete(
            url, headers={**writer, "If-Match": one.headers["ETag"]}, timeout=10
        ).status_code
        == 204
    )


def test_merge_patch(stack: Stack, writer: dict[str, str]) -> None:
    book = post(
        stack,
        writer,
        {"title": f"Patch {tag()}", "author": "P", "publisher": "Old", "page_count": 10},
    ).json()
    url = f"{stack.books_url}/books/{book['id']}"
    patched = requests.patch(
        url,
        data='{"publisher": null, "page_count": 20, "subjects": ["X"]}',
        headers={**writer, "Content-Type": "application/merge-patch+json"},
        timeout=10,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["publisher"] is None and body["page_count"] == 20 and body["subjects"] == ["X"]
    assert body["title"] == book["title"] and body["version"] == 2
    assert requests.patch(url, json={"title": None}, headers=writer, timeout=10).status_code == 422
    assert requests.patch(url, json={"isbn": "bad"}, headers=writer, timeout=10).status_code == 422
    authors = requests.patch(url, json={"authors": ["Um", "Dois"]}, headers=writer, timeout=10)
    assert authors.json()["author"] == "Um; Dois"
    assert requests.get(url, timeout=10).json()["version"] == 3


def test_history_records_every_change(
    stack: Stack, writer: dict[str, str], admin: dict[str, str]
) -> None:
    book = post(stack, writer, {"title": f"Hist {tag()}", "author": "H"}).json()
    url = f"{stack.books_url}/books/{book['id']}"
    requests.patch(url, json={"copies": 2}, headers=writer, timeout=10)
    requests.delete(url, headers=writer, timeout=10)
    requests.post(f"{url}/restore", headers=admin, timeout=10)
    history = requests.get(f"{url}/history", timeout=10).json()
    assert [h["action"] for h in history] == ["created", "updated", "deleted", "restored"]
    assert [h["version"] for h in history] == [1, 2, 3, 4]
    assert history[0]["changes"]["title"] == {"from": None, "to": book["title"]}
    assert history[1]["changes"] == {"copies": {"from": 1, "to": 2}}
    assert history[2]["changed_by"] == book["created_by"] and history[3]["changed_by"] == "chief"


def test_deleting_restoring_and_purging(
    stack: Stack, writer: dict[str, str], admin: dict[str, str]
) -> None:
    book = post(
        stack,
        writer,
        {"title": f"Del {tag()}", "author": "D", "isbn": "978-0-306-40615-7"},
    ).json()
    if "id" not in book:  # the ISBN is taken by another test's book: use none
        book = post(stack, writer, {"title": f"Del {tag()}", "author": "D"}).json()
    url = f"{stack.books_url}/books/{book['id']}"
    assert requests.delete(url, headers=writer, timeout=10).status_code == 204
    assert requests.get(url, timeout=10).status_code == 404
    assert book["id"] not in {b["id"] for b in stack.list_books()}
    # Only administrators see, restore and purge deleted books.
    assert (
        requests.get(f"{stack.books_url}/books/deleted", headers=writer, timeout=10).status_code
        == 403
    )
    assert requests.get(f"{stack.books_url}/books/deleted", timeout=10).status_code == 401
    assert requests.post(f"{url}/restore", headers=writer, timeout=10).status_code == 403
    deleted = requests.get(f"{stack.books_url}/books/deleted?limit=500", headers=admin, timeout=10)
    assert book["id"] in {b["id"] for b in deleted.json()}
    restored = requests.post(f"{url}/restore", headers=admin, timeout=10)
    assert restored.status_code == 200 and restored.json()["version"] == 3
    assert requests.get(url, timeout=10).status_code == 200
    assert requests.post(f"{url}/restore", headers=admin, timeout=10).status_code == 404
    requests.delete(url, headers=writer, timeout=10)
    purge = f"{stack.books_url}/books/deleted/{book['id']}"
    assert requests.delete(purge, headers=writer, timeout=10).status_code == 403
    assert requests.delete(purge, headers=admin, timeout=10).status_code == 204
    assert requests.delete(purge, headers=admin, timeout=10).status_code == 404
    assert requests.get(f"{url}/history", timeout=10).status_code == 404


def test_a_restore_that_would_duplicate_an_isbn_is_refused(
    stack: Stack, writer: dict[str, str], admin: dict[str, str]
) -> None:
    isbn = "979-10-90636-07-1"
    first = post(stack, writer, {"title": f"I {tag()}", "author": "I", "isbn": isbn})
    if first.status_code == 409:
        pytest.skip("the ISBN is in use by another run's book")
    url = f"{stack.books_url}/books/{first.json()['id']}"
    requests.delete(url, headers=writer, timeout=10)
    second = post(stack, writer, {"title": f"I2 {tag()}", "author": "I", "isbn": isbn})
    assert second.status_code == 201  # the deleted one no longer blocks the ISBN
    assert requests.post(f"{url}/restore", headers=admin, timeout=10).status_code == 409
