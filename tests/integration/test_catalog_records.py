"""Book records over real HTTP: every field, its validation, derived fields, PUT, and the
duplicate rules (also under concurrent requests), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.catalog import (
    BACKENDS,
    Catalog,
    assert_problem,
    catalog_fixture,
)

FULL = {
    "title": "O Pequeno Príncipe",
    "subtitle": "com aquarelas do autor",
    "authors": ["Antoine de Saint-Exupéry"],
    "isbn": "85-220-0498-6",
    "publisher": "Agir",
    "published_date": "1943-04-06",
    "language": "por",
    "page_count": 96,
    "subjects": ["Fábula", "Infantil", "FABULA"],
    "description": "Um piloto perdido no deserto.\n\tUm pequeno príncipe.",
    "cover_url": "https://covers.example.org/principe.jpg?size=L",
    "series": "Clássicos",
    "series_index": 2,
    "copies": 3,
}


@pytest.fixture(scope="module", params=BACKENDS)
def catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Catalog]:
    yield from catalog_fixture(request, tmp_path_factory)


def test_a_full_record_round_trips_with_its_derived_fields(catalog: Catalog) -> None:
    response = catalog.post(FULL)
    assert response.status_code == 201, response.text
    book = response.json()
    assert response.headers["Location"] == f"/books/{book['id']}"
    assert response.headers["ETag"] == f'"{book["id"]}-1"'
    assert book == {
        "id": book["id"],
        "title": "O Pequeno Príncipe",
        "subtitle": "com aquarelas do autor",
        "author": "Antoine de Saint-Exupéry",  # derived from authors
        "authors": ["Antoine de Saint-Exupéry"],
        "isbn": "9788522004980",  # the ISBN-10 given, stored as ISBN-13
        "isbn_10": "8522004986",
        "publisher": "Agir",
        "published_year": 1943,  # from the date
        "published_date": "1943-04-06",
        "language": "pt",  # ISO 639-3 "por" is stored as its 639-1 code
        "page_count": 96,
        "subjects": ["Fábula", "Infantil"],  # "FABULA" is the same subject
        "description": "Um piloto perdido no deserto.\n\tUm pequeno príncipe.",
        "cover_url": "https://covers.example.org/principe.jpg?size=L",
        "series": "Clássicos",
        "series_index": 2.0,
        "copies": 3,
        "version": 1,
        "created_at": book["created_at"],
        "created_by": book["created_by"],
        "updated_at": book["created_at"],
        "updated_by": book["created_by"],
    }
    assert book["created_at"].endswith("Z")
    fetched = catalog.get(f"/books/{book['id']}")
    assert fetched.json() == book
    assert fetched.headers["ETag"] == response.headers["ETag"]


def test_the_spec_request_is_complete_and_fills_the_rest(catalog: Catalog) -> None:
    book = catalog.add(title="Novo Livro", author="Ana; Bia & Caio")
    assert book["authors"] == ["Ana", "Bia", "Caio"]
    assert book["author"] == "Ana; Bia & Caio"
    assert book["copies"] == 1 and book["subjects"] == [] and book["version"] == 1
    for empty in ("subtitle", "isbn", "isbn_10", "publisher", "published_year", "language"):
        assert book[empty] is None


def test_authors_make_the_display_string(catalog: Catalog) -> None:
    two = catalog.add(authors=["Neil Gaiman", "Terry Pratchett"])
    assert two["author"] == "Neil Gaiman; Terry Pratchett"
    many = catalog.add(authors=[f"Autor Número {i:02d} " + "x" * 20 for i in range(20)])
    assert many["author"] == "Autor Número 00 " + "x" * 20 + " et al."
    assert len(many["authors"]) == 20
    both = catalog.add(author="Gaiman & Pratchett", authors=["Neil Gaiman", "Terry Pratchett"])
    assert both["author"] == "Gaiman & Pratchett"  # both given: both kept as given


def test_isbn_forms(catalog: Catalog) -> None:
    for given, isbn13, isbn10 in (
        ("0-8044-2957-X", "9780804429573", "080442957X"),
        ("978 0 306 40615 7", "9780306406157", "0306406152"),
        ("979-10-90636-07-1", "9791090636071", None),  # 979: no ISBN-10 exists
    ):
        book = catalog.add(isbn=given)
        assert (book["isbn"], book["isbn_10"]) == (isbn13, isbn10)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "", "must not be empty"),
        ("title", "x" * 501, "at most 500"),
        ("title", "x" * 2001, "must be at most 500 characters"),  # the real limit, not 2000
        ("title", None, "valid string"),
        ("title", "a\u0000b", "not valid text"),
        ("subtitle", "a\nb", "control characters"),
        ("subtitle", "a\u2028b", "one line"),
        ("series", "a\u2029b", "one line"),
        ("author", "y" * 301, "at most 300"),
        ("author", "y" * 1201, "must be at most 300 characters"),
        ("authors", [], "at least 1"),
        ("authors", ["ok", ""], "must not be empty"),
        ("authors", "Ana", "valid list"),
        ("authors", ["a"] * 51, "at most 50"),
        ("isbn", "0-306-40615-3", "check digit"),
        ("isbn", "978-0-306-40615-8", "check digit"),
        ("isbn", "12345", "10 or 13"),
        ("isbn", "977-0-306-40615-7", "978 or 979"),
        ("isbn", 9780306406157, "valid string"),
        ("isbn", "979-0-2600-0043-8", "979-0 is an ISMN, not an ISBN"),
        ("publisher", "p" * 301, "at most 300"),
        ("published_year", "1943", "valid integer"),
        ("published_year", 1943.5, "valid integer"),
        ("published_year", True, "valid integer"),
        ("published_year", 10_000, "less than or equal to 9999"),
        ("published_date", "1943-13", "not a real date"),
        ("published_date", "1943-02-30", "not a real date"),
        ("published_date", "43", "YYYY"),
        ("published_date", "２０２０", "YYYY"),
        ("published_date", "٢٠٢٠-٠١-٠١", "YYYY"),
        ("published_date", "0000-02-30", "not a real date"),
        ("language", "xx", "ISO 639"),
        ("language", "portuguese", "at most 8"),
        ("language", 5, "valid string"),
        ("page_count", 0, "greater than or equal to 1"),
        ("page_count", 10**30, "less than or equal to 100000"),
        ("subjects", "Poesia", "valid list"),
        ("subjects", ["s" * 101], "at most 100"),
        ("subjects", [f"s{i}" for i in range(51)], "at most 50"),
        ("description", "x" * 10_001, "at most 10000"),
        ("description", "x" * 40_001, "must be at most 10000 characters"),
        ("description", "bell\u0007", "control characters"),
        ("cover_url", "javascript:alert(1)", "http or https"),
        ("cover_url", "ftp://example.org/a.jpg", "http or https"),
        ("cover_url", "//example.org/a.jpg", "http or https"),
        ("cover_url", "https://exa mple.org/a.jpg", "without spaces"),
        ("cover_url", "https://", "http or https"),
        ("cover_url", "http://ex.com:99999/", "invalid port"),
        ("cover_url", "http://ex.com:0/a.jpg", "invalid port"),
        ("cover_url", "http://ex.com\\@evil.example/a.jpg", "backslash"),
        ("cover_url", "https://ex.com/a.jpg?", "well-formed"),
        ("series_index", -1, "greater than or equal to 0"),
        ("series_index", "2", "valid number"),
        ("copies", -1, "greater than or equal to 0"),
        ("copies", 2.5, "valid integer"),
    ],
)
def test_each_field_is_validated_and_nothing_is_written(
    catalog: Catalog, field: str, value: Any, message: str
) -> None:
    body = {"title": "Inválido", "author": "Alguém", field: value}
    if field == "authors":
        body.pop("author")
    before = catalog.books().headers["X-Total-Count"]
    problem = assert_problem(catalog.post(body), 422)
    # That field is named (a list's item as "authors.1"), and nothing else: invalid authors
    # are not also reported as a missing author.
    named = {e["field"].split(".")[0] for e in problem["errors"]}
    assert named == {field}, problem
    assert any(message in e["message"] for e in problem["errors"]), problem["errors"]
    assert catalog.books().headers["X-Total-Count"] == before


def test_json_that_python_reads_but_is_no_number_is_refused(catalog: Catalog) -> None:
    for literal in ("NaN", "Infinity", "-Infinity"):
        response = catalog.request(
            "POST",
            "/books",
            data=f'{{"title": "t", "author": "a", "series_index": {literal}}}',
            headers={**catalog.librarian, "Content-Type": "application/json"},
        )
        assert response.status_code in (400, 422), response.text


def test_dates_and_nulls_at_the_edges(catalog: Catalog) -> None:
    # Year 0 is 1 BC, as published_year counts; null copies is the default, as in a PATCH.
    book = catalog.add(published_date="0000-02-29", copies=None)
    assert (book["published_date"], book["published_year"], book["copies"]) == ("0000-02-29", 0, 1)
    assert catalog.add(published_year=-9999)["published_year"] == -9999


def test_ids_are_ascii_digits(catalog: Catalog) -> None:
    """Werkzeug's int converter takes any Unicode digit: "/books/\\u0661" would be book 1."""
    book = catalog.add()
    digits = str(book["id"])
    arabic = digits.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    fullwidth = digits.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    for odd in (arabic, fullwidth):
        for method, path, headers in (
            ("GET", f"/books/{odd}", {}),
            ("GET", f"/books/{odd}/history", {}),
            ("PUT", f"/books/{odd}", catalog.librarian),
            ("PATCH", f"/books/{odd}", catalog.librarian),
            ("DELETE", f"/books/{odd}", catalog.librarian),
            ("POST", f"/books/{odd}/restore", catalog.admin),
            ("GET", f"/books/deleted/{odd}", catalog.admin),
            ("GET", f"/books/deleted/{odd}/history", catalog.admin),
            ("DELETE", f"/books/deleted/{odd}", catalog.admin),
        ):
            response = catalog.request(
                method, path, headers=headers, json={"title": "t", "author": "a"}
            )
            assert_problem(response, 404)
    assert catalog.get(f"/books/{digits}").json() == book


def test_missing_author_and_contradicting_years(catalog: Catalog) -> None:
    problem = assert_problem(catalog.post({"title": "Sem autor"}), 422)
    assert problem["errors"] == [
        {"field": "author", "message": "is required (or give authors)", "type": "missing"}
    ]
    problem = assert_problem(
        catalog.post(
            {"title": "Anos", "author": "A", "published_year": 1900, "published_date": "1901"}
        ),
        422,
    )
    assert "different years" in problem["detail"]


def test_read_only_fields_are_refused_by_name(catalog: Catalog) -> None:
    sent = {"id": 1, "version": 7, "created_by": "mallory", "isbn_10": "x", "deleted_at": "now"}
    title = f"Refused {uuid.uuid4().hex[:8]}"
    response = catalog.post({"title": title, "author": "A", **sent})
    assert response.status_code == 422, response.text
    assert {e["field"] for e in response.json()["errors"]} == set(sent)
    assert catalog.get("/books", q=title).json() == []


def test_put_replaces_the_whole_record(catalog: Catalog) -> None:
    book = catalog.post({**FULL, "isbn": None, "title": "Para substituir"}).json()
    response = catalog.request(
        "PUT",
        f"/books/{book['id']}",
        json={"title": "Substituído", "author": "Outra Pessoa"},
        headers=catalog.librarian,
    )
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["title"] == "Substituído" and replaced["authors"] == ["Outra Pessoa"]
    assert replaced["subjects"] == [] and replaced["copies"] == 1 and replaced["publisher"] is None
    assert replaced["version"] == 2 and replaced["created_at"] == book["created_at"]
    assert replaced["updated_at"] >= book["updated_at"]
    assert response.headers["ETag"] == f'"{book["id"]}-2"'
    # The same PUT again changes nothing: no new version.
    again = catalog.request(
        "PUT",
        f"/books/{book['id']}",
        json={"title": "Substituído", "author": "Outra Pessoa"},
        headers=catalog.librarian,
    )
    assert again.json()["version"] == 2


def test_the_same_isbn_twice_is_a_conflict_that_names_the_first(catalog: Catalog) -> None:
    first = catalog.add(title="Dom Casmurro", author="Machado de Assis", isbn="978-85-359-0277-8")
    for body, query in (
        ({"title": "Outro título", "author": "Outra", "isbn": "9788535902778"}, ""),
        ({"title": "Outro título", "author": "Outra", "isbn": "978 85 359 0277 8"}, ""),
        # allow_duplicate is for title and author, never for the same ISBN
        ({"title": "Outro", "author": "Outra", "isbn": "9788535902778"}, "?allow_duplicate=true"),
    ):
        problem = assert_problem(catalog.post(body, query=query), 409)
        assert problem["existing_id"] == first["id"]
        assert problem["existing"] == f"/books/{first['id']}"
        assert problem["type"] == "/problems/duplicate-book"
    response = catalog.post({"title": "X", "author": "Y", "isbn": "9788535902778"})
    assert response.headers["Link"] == f'</books/{first["id"]}>; rel="related"'
    # Changing another book to that ISBN is a conflict too.
    other = catalog.add()
    put = catalog.request(
        "PUT",
        f"/books/{other['id']}",
        json={"title": other["title"], "author": "A", "isbn": "85-359-0277-5"},
        headers=catalog.librarian,
    )
    assert assert_problem(put, 409)["existing_id"] == first["id"]


def test_same_title_and_author_without_isbn_needs_allow_duplicate(catalog: Catalog) -> None:
    first = catalog.add(
        query="", title="Memórias Póstumas de Brás Cubas", author="Machado de Assis"
    )
    for title, author in (
        ("Memórias Póstumas de Brás Cubas", "Machado de Assis"),
        ("  MEMORIAS postumas de bras   cubas ", "machado de assis"),
        ("Memórias póstumas, de Brás Cubas!", "Machado  de Assis"),
    ):
        problem = assert_problem(catalog.post({"title": title, "author": author}), 409)
        assert problem["existing_id"] == first["id"]
        assert "allow_duplicate" in problem["detail"]
    meant = catalog.post(
        {"title": "Memórias Póstumas de Brás Cubas", "author": "Machado de Assis"},
        query="?allow_duplicate=true",
    )
    assert meant.status_code == 201
    # Another author, or another title, is another book.
    assert (
        catalog.post({"title": "Memórias Póstumas de Brás Cubas", "author": "Outro"}).status_code
        == 201
    )
    assert (
        catalog.post({"title": "Memórias Póstumas", "author": "Machado de Assis"}).status_code
        == 201
    )
    # With an ISBN a book is told apart by it, not by its title.
    with_isbn = catalog.post(
        {
            "title": "Memórias Póstumas de Brás Cubas",
            "author": "Machado de Assis",
            "isbn": "978-85-7232-144-0",
        }
    )
    assert with_isbn.status_code == 201, with_isbn.text


def test_the_order_of_the_authors_counts_for_duplicates(catalog: Catalog) -> None:
    """The first author is the one a book is filed under: another first author, another book."""
    first = catalog.add(query="", title="Boa Sorte", authors=["Neil Gaiman", "Terry Pratchett"])
    same = catalog.post({"title": "Boa sorte!", "author": "neil gaiman & TERRY PRATCHETT"})
    assert assert_problem(same, 409)["existing_id"] == first["id"]
    reversed_order = catalog.post(
        {"title": "Boa Sorte", "authors": ["Terry Pratchett", "Neil Gaiman"]}
    )
    assert reversed_order.status_code == 201, reversed_order.text


def test_a_deleted_book_does_not_block_its_isbn_or_title(catalog: Catalog) -> None:
    book = catalog.add(query="", title="Apagado", author="Ninguém", isbn="978-1-4028-9462-6")
    assert (
        catalog.request("DELETE", f"/books/{book['id']}", headers=catalog.librarian).status_code
        == 204
    )
    again = catalog.post({"title": "Apagado", "author": "Ninguém", "isbn": "1-4028-9462-7"})
    assert again.status_code == 201, again.text


@pytest.mark.parametrize("by", ["isbn", "title and author"])
def test_concurrent_duplicates_make_exactly_one_book(catalog: Catalog, by: str) -> None:
    marker = f"Corrida {by} {catalog.backend}"
    body: dict[str, Any] = {"title": marker, "author": "Muitas Mãos"}
    if by == "isbn":
        body["isbn"] = "978-0-262-13472-9" if catalog.backend == "sqlite" else "978-0-596-52068-7"

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda _: catalog.post(body).status_code, range(12)))
    assert sorted(statuses) == [201] + [409] * 11
    found = catalog.books(q=marker).json()
    assert [b["title"] for b in found] == [marker]
