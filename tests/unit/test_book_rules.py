"""The book's own rules, as a bulk importer meets them: ``validate_book`` without HTTP, the same
rules ``POST /books`` applies, with every invalid field named."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from books_service.book_rules import ValidationError, validate_book, validate_document
from books_service.schemas import BookFields


def fields_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        validate_book(data)
    assert caught.value.status == 422
    return {e["field"]: e["message"] for e in caught.value.errors}


def test_a_valid_book_comes_back_complete_and_normalised() -> None:
    record = validate_book(
        {
            "title": "  Good Omens ",
            "author": "Neil Gaiman & Terry Pratchett",
            "isbn": "0-552-13703-0",
            "language": "ENG",
            "published_date": "1990-05",
            "subjects": ["Fantasy", "fantasy", "Humour"],
        }
    )
    assert record["title"] == "Good Omens"
    assert record["authors"] == ["Neil Gaiman", "Terry Pratchett"]
    assert record["isbn"] == "9780552137034"
    assert record["language"] == "en"
    assert record["published_year"] == 1990
    assert record["subjects"] == ["Fantasy", "Humour"]
    assert record["copies"] == 1
    assert record["series"] is None  # every editable field is present


def test_authors_alone_give_the_display_author() -> None:
    assert validate_book({"title": "t", "authors": ["A", "B"]})["author"] == "A; B"


def test_every_invalid_field_is_named_with_its_path() -> None:
    found = fields_of(
        {
            "title": " ",
            "authors": ["ok", ""],
            "isbn": "978-0-00-000000-1",
            "language": "xx",
            "cover_url": "javascript:alert(1)",
            "published_date": "1943-02-30",
            "page_count": 0,
        }
    )
    assert set(found) == {
        "title",
        "authors.1",
        "isbn",
        "language",
        "cover_url",
        "published_date",
        "page_count",
    }
    assert "check digit" in found["isbn"]


def test_a_book_needs_an_author_or_authors() -> None:
    assert fields_of({"title": "t"}) == {"author": "is required (or give authors)"}


def test_year_and_date_must_agree() -> None:
    found = fields_of(
        {"title": "t", "author": "a", "published_year": 1900, "published_date": "1899"}
    )
    assert list(found.values()) == ["published_year and published_date name different years"]


def test_wrong_types_are_not_coerced() -> None:
    assert set(fields_of({"title": 5, "author": "a", "copies": "2"})) == {"title", "copies"}


def test_the_api_and_the_domain_apply_the_same_rules() -> None:
    data = {"title": "Dom Casmurro", "author": "Machado de Assis", "isbn": "8535902775"}
    assert BookFields.model_validate(data).record() == validate_book(data)


def test_a_patched_document_keeps_stored_values_it_did_not_touch() -> None:
    document = {"title": "t", "author": "a", "isbn": "9790123456785", "copies": 3}
    with pytest.raises(ValidationError):
        validate_document(document)
    record = validate_document(document, kept={"isbn": "9790123456785"})
    assert record["isbn"] == "9790123456785"
    assert record["copies"] == 3


def test_a_kept_value_does_not_excuse_a_new_invalid_one() -> None:
    document = {"title": "t", "author": "a", "isbn": "9790123456785", "language": "xx"}
    with pytest.raises(ValidationError) as caught:
        validate_document(document, kept={"isbn": "9790123456785"})
    assert {e["field"] for e in caught.value.errors} == {"isbn", "language"}


@pytest.mark.parametrize(
    "module",
    [
        "books_service.book_rules",
        "books_service.catalog",
        "books_service.listing",
        "books_service.history",
        "auth_service.accounts",
        "common.pagination",
    ],
)
def test_the_domain_modules_load_without_flask(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "web = [m for m in sys.modules if m.partition('.')[0] in "
        "('flask', 'werkzeug', 'flask_openapi3')]\n"
        "assert not web, web\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
