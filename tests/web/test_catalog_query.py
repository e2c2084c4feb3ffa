"""The catalog page's query string as the Books Service's query."""

from __future__ import annotations

from web_service.catalog_query import PAGE_SIZE, parse_catalog_query


def test_filters_pass_through_trimmed_and_empty_ones_are_dropped() -> None:
    query = parse_catalog_query(
        {"q": "  memorias   postumas ", "author": "", "subject": "Romance", "cursor": ""}
    )
    assert query.api_params() == {
        "q": "memorias postumas",
        "subject": "Romance",
        "limit": PAGE_SIZE,
    }
    assert query.filtered


def test_years_are_numbers_and_a_bad_year_is_an_error_not_a_filter() -> None:
    query = parse_catalog_query({"year_from": "1899", "year_to": "19x9"})
    assert query.api_params() == {"year_from": 1899, "limit": PAGE_SIZE}
    assert query.errors == {"year_to": "year"}
    assert parse_catalog_query({"year_from": "-50"}).api_params()["year_from"] == -50


def test_relevance_applies_only_to_a_search() -> None:
    assert "sort" not in parse_catalog_query({"sort": "relevance"}).api_params()
    assert parse_catalog_query({"sort": "relevance", "q": "x"}).api_params()["sort"] == "relevance"
    assert parse_catalog_query({"sort": "-title"}).api_params()["sort"] == "-title"


def test_an_unknown_sort_is_dropped_with_an_error() -> None:
    query = parse_catalog_query({"sort": "drop table"})
    assert "sort" not in query.api_params()
    assert query.errors == {"sort": "sort"}


def test_a_cursor_is_passed_only_when_it_looks_like_one() -> None:
    assert parse_catalog_query({"cursor": "eyJ2Ijo-_x"}).api_params()["cursor"] == "eyJ2Ijo-_x"
    assert "cursor" not in parse_catalog_query({"cursor": "../../x"}).api_params()


def test_page_urls_keep_the_search_and_change_only_the_cursor() -> None:
    query = parse_catalog_query({"q": "a", "sort": "title", "cursor": "old"})
    assert query.url_args("new") == {"q": "a", "sort": "title", "cursor": "new"}
    assert query.url_args(None) == {"q": "a", "sort": "title"}


def test_overlong_text_is_cut() -> None:
    assert len(parse_catalog_query({"q": "x" * 5000}).values["q"]) == 200
    assert len(parse_catalog_query({"author": "x" * 5000}).values["author"]) == 300
