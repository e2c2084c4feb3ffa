"""Full-text search over real HTTP: accents and case, prefixes, every searched field, ranking,
pages, and a search index that follows every change, on SQLite (FTS5) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from books_service import search
from common.pagination import Cursor
from tests.support.catalog import BACKENDS, Catalog, catalog_fixture

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
    # A word longer than any query term is kept (64 characters): found by its start.
    "long": {"title": "Um " + "supercalifragilistico" * 4, "author": "Poppins"},
    # Numbers, versions, addresses: PostgreSQL's parser would keep "1939-1945", "2.0" or an
    # e-mail address as one token each; both databases must find their words.
    "war": {"title": "Segunda Guerra, 1939-1945", "author": "Historiadora"},
    "web": {
        "title": "Web 2.0 Explicada",
        "author": "Autora Digital",
        "description": "Escreva para contato@livraria.org ou veja https://exemplo.org/catalogo",
    },
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
        # the last word is a prefix, from three letters on (the user is typing it)
        ("exu", ["terra"]),
        ("kierk", ["soren"]),
        ("terra hom", ["terra"]),
        ("terr homens", []),  # earlier words are whole words
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
        ("978-0-8044", ["fields"]),  # as it is typed, with hyphens
        ("978 0 8044 2957 3", ["fields"]),  # with spaces
        ("978–0–8044–2957–3", ["fields"]),  # with en dashes
        # numbers and addresses, alike on both databases
        ("1945", ["war"]),
        ("1939-1945", ["war"]),
        ("guerra 1939", ["war"]),
        ("2.0", ["web"]),
        ("web 2.0", ["web"]),
        ("web 2", ["web"]),
        ("contato", ["web"]),
        ("livraria", ["web"]),
        ("catalogo", ["web"]),
        ("supercalifragilistico" * 4 + " poppins", ["long"]),
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
    for q in ("星の王子さま", "e\u0301"):
        response = catalog.get("/books", q=q)
        assert response.status_code == 200, (q, response.text)
    # A query with no letter or digit has nothing to look for: it finds nothing (rather than
    # everything, as if there were no query).
    for q in ("📚", "*", '"', "'", "\\", "%", "_", "-", "(", "\u202e", "\u0301"):
        response = catalog.get("/books", q=q)
        assert response.status_code == 200, (q, response.text)
        assert (response.json(), response.headers["X-Total-Count"]) == ([], "0"), q


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


def test_relevance_pages_walk_every_match_once_while_books_are_added(catalog: Catalog) -> None:
    """A relevance position is (tier, id) and a book's tier depends on the book alone, so
    cursors stay valid while books are added: every book that matched when the walk began is
    seen exactly once, in tier order, whatever is added meanwhile (new matches included)."""

    def add(where: str) -> dict[str, Any]:
        fields = {
            "title": {"title": "Zqxverbo Antigo"}.get(where, "Sem Nome"),
            "author": {"author": "Zqxverbo Silva"}.get(where, "Ninguem"),
            "description": "um zqxverbo" if where == "description" else None,
        }
        return catalog.add(**fields)

    tiers = ["title", "author", "description"]
    before = [add(tiers[i % 3]) for i in range(9)]
    tier_of = {book["id"]: i % 3 for i, book in enumerate(before)}
    expected = sorted(tier_of, key=lambda book_id: (tier_of[book_id], book_id))
    seen: list[int] = []
    url: str | None = "/books?q=zqxverbo&limit=2"
    while url:
        response = catalog.request("GET", url)
        assert response.status_code == 200, response.text
        seen += [book["id"] for book in response.json()]
        url = response.links.get("next", {}).get("url")
        for where in tiers:  # new matches in every tier, and a book that does not match
            tier_of[add(where)["id"]] = tiers.index(where)
        catalog.add(title="Outra Coisa")
    assert len(seen) == len(set(seen))
    assert [book_id for book_id in seen if book_id in expected] == expected
    assert seen == sorted(seen, key=lambda book_id: (tier_of[book_id], book_id))


def test_relevance_pages_walk_back_from_the_last(
    catalog: Catalog, shelf: dict[str, dict[str, Any]]
) -> None:
    forwards = [b["id"] for b in catalog.walk("/books?q=quimera&limit=2")]
    assert forwards == [shelf[name]["id"] for name in ("in_title", "in_author", "in_description")]
    page = catalog.request("GET", catalog.books(q="quimera", limit=2).links["last"]["url"])
    backwards: list[int] = []
    while True:
        assert page.status_code == 200, page.text
        backwards = [b["id"] for b in page.json()] + backwards
        if "prev" not in page.links:
            break
        page = catalog.request("GET", page.links["prev"]["url"])
    assert backwards == forwards
    # A position past the last match: an empty page that still counts every match.
    past = Cursor("relevance", (search.TIERS - 1, 2**62), False).encode()
    empty = catalog.books(q="quimera", cursor=past)
    assert (empty.json(), empty.headers["X-Total-Count"]) == ([], "3")
