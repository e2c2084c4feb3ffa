"""Full-text search over real HTTP: accents and case, prefixes, every searched field, ranking,
pages, and a search index that follows every change, on SQLite (FTS5) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_catalog_support import BACKENDS, Catalog, catalog_fixture

SHELF: dict[str, dict[str, Any]] = {
    "terra": {"title": "Terra dos Homens", "author": "Antoine de Saint-Exupéry", "language": "pt"},
    "cronicas": {
        "title": "Crônicas",
        "author": "Anônimo",
        "description": "Histórias da São Paulo antiga, contadas à noite.",
    },
    "soren": {"title": "O Conceito de Angústia", "author": "Søren Kierkegaard"},
    "fields": {
        "title": "Um Título Qualquer",
        "subtitle": "subtítulo singular",
        "authors": ["Maria Firmina dos Reis", "Coautora Escondida"],
        "author": "M. F. dos Reis",
        "series": "Coleção Pérola",
        "publisher": "Editora Xilogravura",
        "subjects": ["Abolicionismo"],
        "isbn": "0-8044-2957-X",
    },
    # The same rare word in the title, in the author, and in the description only.
    "in_title": {"title": "Quimera", "author": "Fulano"},
    "in_author": {"title": "Contos", "author": "Beltrano Quimera"},
    "in_description": {"title": "Ensaios", "author": "Sicrano", "description": "uma quimera"},
}


@pytest.fixture(scope="module", params=BACKENDS)
def catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Catalog]:
    yield from catalog_fixture(request, tmp_path_factory)


@pytest.fixture(scope="module")
def shelf(catalog: Catalog) -> dict[str, dict[str, Any]]:
    return {name: catalog.add(**fields) for name, fields in SHELF.items()}


def found(catalog: Catalog, shelf: dict[str, dict[str, Any]], q: str, **params: Any) -> list[str]:
    by_id = {book["id"]: name for name, book in shelf.items()}
    return [by_id.get(b["id"], b["title"]) for b in catalog.books(q=q, **params).json()]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("exupery", ["terra"]),
        ("EXUPÉRY", ["terra"]),
        ("Exupéry", ["terra"]),
        ("saint-exupéry", ["terra"]),
        ("sao paulo", ["cronicas"]),
        ("SÃO   PAULO", ["cronicas"]),
        ("historias", ["cronicas"]),
        ("soren", ["soren"]),
        ("Søren angústia", ["soren"]),
        ("angustia", ["soren"]),
        ("cronicas", ["cronicas"]),
        # every word must match
        ("terra homens", ["terra"]),
        ("terra paulo", []),
        # prefixes, from three letters on
        ("exu", ["terra"]),
        ("kierk", ["soren"]),
        ("terr hom", ["terra"]),
        ("ex", []),  # two letters: whole words only
        ("À", ["cronicas"]),  # the word "à", folded
        # every searched field
        ("singular", ["fields"]),  # subtitle
        ("perola", ["fields"]),  # series
        ("xilogravura", ["fields"]),  # publisher
        ("abolicionismo", ["fields"]),  # subjects
        ("coautora escondida", ["fields"]),  # an author missing from the display string
        ("firmina", ["fields"]),
        ("9780804429573", ["fields"]),  # ISBN-13
        ("978-0-8044-2957-3", ["fields"]),
        ("080442957X", ["fields"]),  # ISBN-10
        ("0-8044-2957-x", ["fields"]),
        ("97808044", ["fields"]),  # as it is typed
        ("nothing like this", []),
    ],
)
def test_search_finds_ignoring_accents_and_case(
    catalog: Catalog, shelf: dict[str, dict[str, Any]], q: str, expected: list[str]
) -> None:
    response = catalog.books(q=q)
    assert found(catalog, shelf, q) == expected
    assert response.headers["X-Total-Count"] == str(len(expected))


def test_matches_in_the_title_rank_above_the_author_above_the_rest(
    catalog: Catalog, shelf: dict[str, dict[str, Any]]
) -> None:
    assert found(catalog, shelf, "quimera") == ["in_title", "in_author", "in_description"]
    assert found(catalog, shelf, "QUIM") == ["in_title", "in_author", "in_description"]
    # A sort other than relevance wins over it; filters narrow the search.
    assert found(catalog, shelf, "quimera", sort="title") == [
        "in_author",
        "in_description",
        "in_title",
    ]
    assert found(catalog, shelf, "quimera", author="sicrano") == ["in_description"]


def test_search_results_come_in_pages(catalog: Catalog, shelf: dict[str, dict[str, Any]]) -> None:
    walked = catalog.walk("/books?q=quimera&limit=1")
    assert [b["id"] for b in walked] == [
        shelf[name]["id"] for name in ("in_title", "in_author", "in_description")
    ]
    first = catalog.books(q="quimera", limit=2)
    assert first.headers["X-Total-Count"] == "3"
    last = catalog.request("GET", first.links["last"]["url"])
    assert [b["id"] for b in last.json()] == [
        shelf["in_author"]["id"],
        shelf["in_description"]["id"],
    ]


def test_operators_and_odd_text_are_just_words(
    catalog: Catalog, shelf: dict[str, dict[str, Any]]
) -> None:
    # Neither engine's query syntax gets through: punctuation is dropped...
    for q in (
        '"terra"',
        "terra*",
        "terra:*|",
        "(terra)",
        "-terra",
        "terra&!",
        "'terra'",
        "^terra$",
    ):
        assert found(catalog, shelf, q) == ["terra"], q
    # ...and operator names are plain words, which no book here has.
    for q in ("terra OR homens", "terra NOT homens", "NEAR(terra homens)", "terra AND homens"):
        assert found(catalog, shelf, q) == [], q
    for q in ("📚", "星の王子さま", "*", '"', "'", "\\", "%", "_", "e\u0301", "\u202e"):
        response = catalog.get("/books", q=q)
        assert response.status_code == 200, (q, response.text)


def test_the_index_follows_every_change(catalog: Catalog) -> None:
    book = catalog.add(title="Palimpsesto Antigo", author="Escriba")
    url = f"/books/{book['id']}"
    assert [b["id"] for b in catalog.books(q="palimpsesto").json()] == [book["id"]]
    changed = catalog.request(
        "PATCH", url, json={"title": "Pergaminho Novo"}, headers=catalog.librarian
    )
    assert changed.status_code == 200, changed.text
    assert catalog.books(q="palimpsesto").json() == []
    assert [b["id"] for b in catalog.books(q="pergaminho").json()] == [book["id"]]
    assert catalog.request("DELETE", url, headers=catalog.librarian).status_code == 204
    assert catalog.books(q="pergaminho").json() == []
    assert catalog.books(q="pergaminho").headers["X-Total-Count"] == "0"
    restored = catalog.request("POST", f"{url}/restore", headers=catalog.admin)
    assert restored.status_code == 200, restored.text
    assert [b["id"] for b in catalog.books(q="pergaminho").json()] == [book["id"]]
    catalog.request("DELETE", url, headers=catalog.librarian)
    purged = catalog.request("DELETE", f"/books/deleted/{book['id']}", headers=catalog.admin)
    assert purged.status_code == 204
    assert catalog.books(q="pergaminho").json() == []
