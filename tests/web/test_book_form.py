"""The book form: typed values to the API's record and back, errors on their fields, and the
fields of an edit conflict."""

from __future__ import annotations

from web_service.book_form import (
    FIELD_NAMES,
    conflicts,
    errors_by_field,
    form_from_book,
    form_values,
    record_from_form,
)


def test_empty_fields_are_left_out_and_lines_become_lists() -> None:
    record = record_from_form(
        {
            "title": "  Dom   Casmurro ",
            "authors": "Machado de Assis\n\n  Outro  Autor \n",
            "subjects": "Romance\r\nLiteratura brasileira",
            "isbn": "",
            "publisher": "   ",
            "description": "  First paragraph.\n\nSecond.  ",
        }
    )
    assert record == {
        "title": "Dom Casmurro",
        "authors": ["Machado de Assis", "Outro Autor"],
        "subjects": ["Romance", "Literatura brasileira"],
        "description": "First paragraph.\n\nSecond.",
    }


def test_numbers_are_sent_as_numbers_with_a_decimal_comma_accepted() -> None:
    record = record_from_form(
        {"page_count": "256", "published_year": "-50", "series_index": "1,5", "copies": " 2 "}
    )
    assert record == {"page_count": 256, "published_year": -50, "series_index": 1.5, "copies": 2}


def test_what_is_not_a_number_is_sent_as_typed_for_the_api_to_name() -> None:
    record = record_from_form({"page_count": "many", "series_index": "one", "copies": "٣"})
    assert record == {"page_count": "many", "series_index": "one", "copies": "٣"}


def test_a_book_reads_back_into_the_form_as_it_was_written() -> None:
    book = {
        "title": "Dom Casmurro",
        "subtitle": None,
        "authors": ["Machado de Assis", "Outro"],
        "subjects": [],
        "series_index": 2.0,
        "page_count": 256,
        "copies": 1,
    }
    values = form_from_book(book)
    assert values["authors"] == "Machado de Assis\nOutro"
    assert values["series_index"] == "2"
    assert values["subtitle"] == ""
    assert set(values) == set(FIELD_NAMES)
    assert record_from_form(values) == {
        "title": "Dom Casmurro",
        "authors": ["Machado de Assis", "Outro"],
        "series_index": 2,
        "page_count": 256,
        "copies": 1,
    }


def test_form_values_keep_exactly_what_was_typed() -> None:
    typed = {"title": "  spaces kept  ", "isbn": "978-0", "unknown": "dropped"}
    values = form_values(typed)
    assert values["title"] == "  spaces kept  "
    assert "unknown" not in values


def test_api_errors_land_on_the_form_fields() -> None:
    errors = [
        {"field": "author", "type": "missing"},
        {"field": "authors.2", "type": "string_too_long"},
        {"field": "isbn", "type": "isbn"},
        {"field": "body", "type": "published"},
    ]
    by_field = errors_by_field(errors)
    assert [e["type"] for e in by_field["authors"]] == ["missing", "string_too_long"]
    assert by_field["isbn"] == [{"field": "isbn", "type": "isbn"}]
    assert by_field[""] == [{"field": "body", "type": "published"}]


def test_a_conflict_lists_only_the_fields_that_differ() -> None:
    mine = form_values({"title": "Mine", "authors": "A", "copies": "2"})
    theirs = form_values({"title": "Theirs", "authors": "A ", "copies": "2"})
    found = conflicts(mine, theirs, None)
    assert [(c.name, c.mine, c.theirs, c.proposed) for c in found] == [
        ("title", "Mine", "Theirs", "mine")
    ]


def test_a_field_only_they_changed_is_proposed_as_theirs() -> None:
    original = form_values({"title": "T", "publisher": "Old", "copies": "1"})
    mine = form_values({"title": "My title", "publisher": "Old", "copies": "1"})
    theirs = form_values({"title": "T", "publisher": "New", "copies": "1"})
    found = conflicts(mine, theirs, original)
    # My title is just my edit (they left it alone); their publisher is proposed as theirs.
    assert [(c.name, c.proposed) for c in found] == [("publisher", "theirs")]


def test_a_field_we_both_changed_is_for_me_to_choose() -> None:
    original = form_values({"title": "T"})
    found = conflicts(form_values({"title": "Mine"}), form_values({"title": "Theirs"}), original)
    assert [(c.name, c.proposed) for c in found] == [("title", "mine")]
