"""Listing the catalog over real HTTP: every filter and sort order, pages and their Link and
X-Total-Count headers, walking every page exactly once while books are being added, and bad
query strings (never a 500), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.catalog import (
    BACKENDS,
    Catalog,
    assert_problem,
    catalog_fixture,
)

# The shelf every test here reads: (name, fields). Names are how tests refer to books.
SHELF: list[tuple[str, dict[str, Any]]] = [
    (
        "ebano",
        {
            "title": "Ébano",
            "author": "Zé Ninguém",
            "published_year": 1950,
            "language": "pt",
            "subjects": ["Poesia"],
            "publisher": "Companhia das Letras",
            "isbn": "0-306-40615-2",
        },
    ),
    (
        "abacaxi",
        {
            "title": "abacaxi",
            "author": "Ana Souza",
            "published_year": 1990,
            "language": "en",
            "subjects": ["Drama", "poesia"],
            "publisher": "Penguin",
        },
    ),
    (
        "bala",
        {
            "title": "Bala",
            "author": "ANA SOUZA",
            "published_year": 2010,
            "language": "pt",
            "subjects": ["Drama"],
            "publisher": "penguin",
            "isbn": "978-1-4028-9462-6",
        },
    ),
    (
        "agua",
        {
            "title": "Água Viva",
            "author": "Clarice Lispector",
            "published_year": 1973,
            "language": "por",
            "subjects": ["Romance"],
            "publisher": "Rocco",
        },
    ),
    ("zebra", {"title": "zebra", "authors": ["Ana Souza", "Bruno Lima"], "language": "es"}),
    (
        "cancao",
        {
            "title": "Canção",
            "author": "Bruno Lima",
            "published_year": 1990,
            "language": "pt",
            "subjects": ["Poesia"],
            "publisher": "Companhia das Letras",
        },
    ),
    ("agua2", {"title": "agua viva", "author": "Outra Autora", "published_year": 1990}),
]


@pytest.fixture(scope="module", params=BACKENDS)
def catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Catalog]:
    yield from catalog_fixture(request, tmp_path_factory)


@pytest.fixture(scope="module")
def shelf(catalog: Catalog) -> dict[str, dict[str, Any]]:
    """The shelf's books as stored, by name; a deleted book to show it is never listed."""
    books = {name: catalog.add(**fields) for name, fields in SHELF}
    gone = catalog.add(title="Apagado", author="Ana Souza", language="pt", subjects=["Poesia"])
    assert (
        catalog.request("DELETE", f"/books/{gone['id']}", headers=catalog.librarian).status_code
        == 204
    )
    return books


def names(shelf: dict[str, dict[str, Any]], books: list[dict[str, Any]]) -> list[str]:
    by_id = {book["id"]: name for name, book in shelf.items()}
    return [by_id[b["id"]] for b in books]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["ebano", "abacaxi", "bala", "agua", "zebra", "cancao", "agua2"]),
        # author: the whole name, any of the authors, or the display string; case and accents
        # do not matter.
        ({"author": "Ana Souza"}, ["abacaxi", "bala", "zebra"]),
        ({"author": "  ana   SOUZA "}, ["abacaxi", "bala", "zebra"]),
        ({"author": "ze ninguem"}, ["ebano"]),
        ({"author": "Ana Souza; Bruno Lima"}, ["zebra"]),
        ({"author": "Ana"}, []),  # parts of names are for q
        ({"subject": "POESIA"}, ["ebano", "abacaxi", "cancao"]),
        ({"subject": "drama"}, ["abacaxi", "bala"]),
        ({"language": "pt"}, ["ebano", "bala", "agua", "cancao"]),
        ({"language": "POR"}, ["ebano", "bala", "agua", "cancao"]),
        ({"language": "spa"}, ["zebra"]),
        ({"publisher": "PENGUIN"}, ["abacaxi", "bala"]),
        ({"publisher": "companhia das letras"}, ["ebano", "cancao"]),
        ({"isbn": "9780306406157"}, ["ebano"]),
        ({"isbn": "0306406152"}, ["ebano"]),
        ({"isbn": "1-4028-9462-7"}, ["bala"]),
        ({"isbn": "978-0-262-13472-9"}, []),
        ({"year_from": 1980}, ["abacaxi", "bala", "cancao", "agua2"]),
        ({"year_to": 1973}, ["ebano", "agua"]),
        ({"year_from": 1973, "year_to": 1990}, ["abacaxi", "agua", "cancao", "agua2"]),
        ({"year_from": 1990, "year_to": 1990}, ["abacaxi", "cancao", "agua2"]),
        ({"author": "ana souza", "language": "pt"}, ["bala"]),
        ({"subject": "poesia", "year_from": 1960, "publisher": "Companhia das Letras"}, ["cancao"]),
        ({"author": "ana souza", "q": "zebra"}, ["zebra"]),
        ({"q": "agua viva", "sort": "id"}, ["agua", "agua2"]),
        ({"author": ""}, ["ebano", "abacaxi", "bala", "agua", "zebra", "cancao", "agua2"]),
    ],
)
def test_filters(
    catalog: Catalog, shelf: dict[str, dict[str, Any]], params: dict[str, Any], expected: list[str]
) -> None:
    response = catalog.books(**params, limit=500)
    assert names(shelf, response.json()) == expected
    assert response.headers["X-Total-Count"] == str(len(expected))


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, ["ebano", "abacaxi", "bala", "agua", "zebra", "cancao", "agua2"]),
        ("id", ["ebano", "abacaxi", "bala", "agua", "zebra", "cancao", "agua2"]),
        ("-id", ["agua2", "cancao", "zebra", "agua", "bala", "abacaxi", "ebano"]),
        # Folded: "Água Viva" and "agua viva" are equal, so the id decides between them.
        ("title", ["abacaxi", "agua", "agua2", "bala", "cancao", "ebano", "zebra"]),
        ("-title", ["zebra", "ebano", "cancao", "bala", "agua2", "agua", "abacaxi"]),
        ("author", ["abacaxi", "bala", "zebra", "cancao", "agua", "agua2", "ebano"]),
        ("-author", ["ebano", "agua2", "agua", "cancao", "zebra", "bala", "abacaxi"]),
        # Books without a year sort as the oldest; ties by id, in the same direction.
        ("published_year", ["zebra", "ebano", "agua", "abacaxi", "cancao", "agua2", "bala"]),
        ("-published_year", ["bala", "agua2", "cancao", "abacaxi", "agua", "ebano", "zebra"]),
        ("created_at", ["ebano", "abacaxi", "bala", "agua", "zebra", "cancao", "agua2"]),
        ("-created_at", ["agua2", "cancao", "zebra", "agua", "bala", "abacaxi", "ebano"]),
        ("updated_at", ["ebano", "abacaxi", "bala", "agua", "zebra", "cancao", "agua2"]),
        ("-updated_at", ["agua2", "cancao", "zebra", "agua", "bala", "abacaxi", "ebano"]),
        ("relevance", ["ebano", "abacaxi", "bala", "agua", "zebra", "cancao", "agua2"]),
    ],
)
@pytest.mark.parametrize("page_size", [500, 2])
def test_sort_orders_with_the_id_breaking_ties(
    catalog: Catalog,
    shelf: dict[str, dict[str, Any]],
    sort: str | None,
    expected: list[str],
    page_size: int,
) -> None:
    """The same order whether read in one page or walked two books at a time."""
    query = f"/books?limit={page_size}" + (f"&sort={sort}" if sort else "")
    assert names(shelf, catalog.walk(query)) == expected


def test_default_and_largest_page(catalog: Catalog, shelf: dict[str, dict[str, Any]]) -> None:
    for i in range(60):
        catalog.add(title=f"Enchimento {i:02d}", author="Muitos")
    total = int(catalog.books().headers["X-Total-Count"])
    assert total == len(shelf) + 60
    assert len(catalog.books().json()) == 50  # the documented default
    assert len(catalog.books(limit=500).json()) == total
    assert_problem(catalog.get("/books", limit=501), 422)
    assert len(catalog.walk("/books")) == total


def test_link_headers(catalog: Catalog, shelf: dict[str, dict[str, Any]]) -> None:
    first = catalog.books(author="ana souza", limit=2)
    assert first.headers["X-Total-Count"] == "3"
    assert set(first.links) == {"first", "next", "last"}
    assert first.links["first"]["url"] == "/books?limit=2&author=ana+souza"
    second = catalog.request("GET", first.links["next"]["url"])
    assert set(second.links) == {"first", "prev", "last"}  # the end: no next
    assert names(shelf, second.json()) == ["zebra"]
    back = catalog.request("GET", second.links["prev"]["url"])
    assert back.json() == first.json() and "prev" not in back.links
    last = catalog.request("GET", first.links["last"]["url"])
    assert names(shelf, last.json()) == ["bala", "zebra"]
    assert set(last.links) == {"first", "prev", "last"}
    before_last = catalog.request("GET", last.links["prev"]["url"])
    assert names(shelf, before_last.json()) == ["abacaxi"]
    assert "prev" not in before_last.links and "next" in before_last.links
    # Links keep the filters and the sort, normalised.
    sorted_first = catalog.books(language="POR", sort="-title", limit=1)
    assert "language=pt" in sorted_first.links["next"]["url"]
    assert "sort=-title" in sorted_first.links["next"]["url"]
    empty = catalog.books(author="nobody at all")
    assert empty.json() == [] and set(empty.links) == {"first", "last"}
    assert empty.headers["X-Total-Count"] == "0"


def test_walking_backwards_from_the_end_gives_the_same_books(
    catalog: Catalog, shelf: dict[str, dict[str, Any]]
) -> None:
    for sort in ("id", "-title", "published_year"):
        forwards = catalog.walk(f"/books?limit=3&sort={sort}")
        pages = []
        url: str | None = catalog.books(limit=3, sort=sort).links["last"]["url"]
        while url:
            response = catalog.request("GET", url)
            pages.insert(0, response.json())
            url = response.links.get("prev", {}).get("url")
        assert [b["id"] for page in pages for b in page] == [b["id"] for b in forwards], sort


def test_pages_walk_the_catalog_exactly_once_while_books_are_added(
    catalog: Catalog, shelf: dict[str, dict[str, Any]]
) -> None:
    before = {b["id"] for b in catalog.walk("/books?limit=500")}
    stop = threading.Event()
    added: list[int] = []

    def keep_adding() -> None:
        i = 0
        while not stop.is_set():
            added.append(
                catalog.add(title=f"Chegando {i} {catalog.backend}", author="Pressa")["id"]
            )
            i += 1

    adder = threading.Thread(target=keep_adding)
    adder.start()
    try:
        for sort in ("id", "-id", "title", "-created_at", "published_year"):
            ids = [b["id"] for b in catalog.walk(f"/books?limit=4&sort={sort}")]
            assert len(ids) == len(set(ids)), f"{sort}: a book came twice"
            assert before <= set(ids), f"{sort}: a book that was there all along was skipped"
    finally:
        stop.set()
        adder.join()
    assert added, "no book was added during the walks"


def cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "abc"},
        {"limit": "-1"},
        {"limit": "0"},
        {"limit": "1e3"},
        {"limit": "99999999999999999999999"},
        {"limit": "5.5"},
        {"cursor": "%%%"},
        {"cursor": "garbage"},
        {"cursor": "x" * 5000},
        {"cursor": cursor([1, 2])},
        {"cursor": cursor({"o": "id", "v": [1, 2], "b": False})},
        {"cursor": cursor({"o": "id", "v": ["1"], "b": False})},
        {"cursor": cursor({"o": "id", "v": [2**70], "b": False})},
        {"cursor": cursor({"o": "id", "v": [1], "b": "no"})},
        {"cursor": cursor({"o": "title", "v": ["a", 1], "b": False})},  # another sort's
        {
            "cursor": cursor({"o": "created_at", "v": ["not a date", 1], "b": False}),
            "sort": "created_at",
        },
        {"cursor": cursor({"o": "title", "v": ["a\u0000", 1], "b": False}), "sort": "title"},
        # Moments datetime holds, but not once turned into UTC.
        *(
            {"cursor": cursor({"o": sort, "v": [moment, 1], "b": False}), "sort": sort}
            for sort in ("created_at", "-updated_at")
            for moment in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00")
        ),
        {"sort": "price"},
        {"sort": "title,id"},
        {"year_from": "nineteen"},
        {"year_from": "2000", "year_to": "1000"},
        {"year_to": "100000"},
        {"isbn": "not an isbn"},
        {"language": "klingon"},
        {"q": "a\u0000b"},
        {"q": "x" * 201},
        {"author": "a\u0007b"},
        {"subject": "s" * 101},
        {"limit": ["2", "3"]},  # a second value is never dropped silently
    ],
)
def test_bad_query_strings_are_422_problems(
    catalog: Catalog, shelf: dict[str, dict[str, Any]], params: dict[str, Any]
) -> None:
    problem = assert_problem(catalog.get("/books", **params), 422)
    assert problem["errors"] and all({"field", "message"} <= set(e) for e in problem["errors"])


@pytest.mark.parametrize(
    "params",
    [
        {"q": "📚 星の王子さま"},
        {"q": "\u202eevil"},
        {"q": "e\u0301"},
        {"q": "' OR 1=1 --"},
        {"q": 'NEAR(a b) OR "x"* AND NOT y:*'},
        {"q": "a & b | !c <-> d:*"},
        {"author": "Robert'); DROP TABLE books;--"},
        {"publisher": "%_%"},
        {"limit": "1", "unknown": "ignored"},
    ],
)
def test_odd_but_valid_query_strings_are_answered(
    catalog: Catalog, shelf: dict[str, dict[str, Any]], params: dict[str, Any]
) -> None:
    response = catalog.get("/books", **params)
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list)
    assert int(response.headers["X-Total-Count"]) >= len(response.json())


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_deleted_books_refuse_cursors_beyond_utc(catalog: Catalog, moment: str) -> None:
    crafted = cursor({"o": "deleted", "v": [moment, 1], "b": False})
    problem = assert_problem(
        catalog.request("GET", f"/books/deleted?cursor={crafted}", headers=catalog.admin), 422
    )
    assert [e["field"] for e in problem["errors"]] == ["cursor"]
