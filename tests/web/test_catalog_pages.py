"""The catalog pages each worker keeps, with no poll of the catalog's version (every view asks
the API, as when the poll fails): reused only while the Books API answers 304 to the kept
ETag, replaced by whatever it sends instead, and rendered apart for each locale and kind of
visitor. The Books Service here is httpx's in-memory transport, so the test sees every call."""

from __future__ import annotations

import sys

import pytest
from flask import Flask

from tests.support.fake_books import HTMX, FakeBooks, book, logged_in
from web_service.catalog_pages import CatalogPages, KeptPage, RenderedPage, api_key
from web_service.cookies import COOKIE_NAME


def page(web: Flask, path: str = "/", **headers: str) -> str:
    response = web.test_client().get(path, headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_second_view_asks_with_the_kept_etag_and_reuses_the_page_on_304(
    web: Flask, books: FakeBooks
) -> None:
    assert "Romanceiro da Inconfidência" in page(web)
    assert "If-None-Match" not in books.seen[-1].headers
    assert "Romanceiro da Inconfidência" in page(web)
    assert books.seen[-1].headers["If-None-Match"].startswith('W/"1-')
    assert len(books.seen) == 2  # every view asks the API


def test_a_changed_catalog_is_shown_on_the_next_view_full_and_htmx(
    web: Flask, books: FakeBooks
) -> None:
    page(web)
    page(web, **HTMX)
    books.change([book(2, "Viagem"), book(1, "Romanceiro da Inconfidência")])
    full, fragment = page(web), page(web, **HTMX)
    for html in (full, fragment):
        assert "Viagem" in html and "2 books" in html
    books.change([book(1, "Romanceiro (edição revista)")])
    for html in (page(web), page(web, **HTMX)):
        assert "Romanceiro (edição revista)" in html and "Viagem" not in html
        assert "1 book" in html
    books.change([])
    assert 'id="empty-catalog"' in page(web)
    assert "Romanceiro" not in page(web, **HTMX)


def test_a_page_without_an_etag_is_never_reused(web: Flask, books: FakeBooks) -> None:
    books.etags = False
    page(web)
    books.books = [book(3, "Mar absoluto")]  # no version to tell: only a new read shows it
    assert "Mar absoluto" in page(web)
    assert all("If-None-Match" not in request.headers for request in books.seen)


def test_each_locale_gets_its_own_strings_from_the_same_kept_page(web: Flask) -> None:
    english = page(web, **{"Accept-Language": "en"})
    portuguese = page(web, **{"Accept-Language": "pt-BR"})
    again = page(web, **{"Accept-Language": "en"})
    assert "1 book" in english and "1 book" in again
    assert "1 livro" in portuguese and "1 book" not in portuguese
    assert "Português" in page(web, **{"Accept-Language": "pt-BR", **HTMX})
    assert "Portuguese" in page(web, **{"Accept-Language": "en", **HTMX})


def test_the_empty_catalogs_advice_is_rendered_for_each_kind_of_visitor(
    web: Flask, books: FakeBooks
) -> None:
    books.change([])
    for _ in range(2):
        anonymous = page(web)
        assert "log in to add the first one" in anonymous
        writer = logged_in(web, "librarian").get("/").get_data(as_text=True)
        assert 'href="/books/new"' in writer.split('id="empty-catalog"')[1]
        assert "log in to add the first one" not in writer
        reader = logged_in(web, "reader").get("/", headers=HTMX).get_data(as_text=True)
        assert "once a librarian adds them." in reader
        assert 'href="/books/new"' not in reader and "log in to add" not in reader
        assert 'href="/books/new"' not in page(web, **HTMX)


def test_the_kept_pages_are_bounded_and_too_large_ones_not_kept() -> None:
    pages = CatalogPages(max_pages=2, max_page_bytes=100)
    for n in range(3):
        pages.keep(api_key({"page": n}), KeptPage(f'"{n}"', b"[]", 0, {}))
    assert len(pages) == 2
    assert pages.get(api_key({"page": 0})) is None
    assert pages.get(api_key({"page": 2})) is not None
    pages.keep(api_key({"page": 2}), KeptPage('"big"', b"[" + b" " * 99 + b"]", 0, {}))
    assert pages.get(api_key({"page": 2})) is None  # not the older one either


def test_an_api_request_is_one_key_whatever_the_order_of_its_parameters() -> None:
    assert api_key({"q": "mar", "limit": 50}) == api_key({"limit": "50", "q": "mar"})
    assert api_key({"q": "mar"}) != api_key({"q": "mar", "sort": "title"})


def test_the_kept_search_form_shows_each_query_as_typed_in_each_language(web: Flask) -> None:
    for _ in range(2):
        mar = page(web, "/?q=mar&sort=title")
        assert 'value="mar"' in mar and '<option value="title" selected>' in mar
        sol = page(web, "/?q=sol&year_from=19x9")
        assert 'value="sol"' in sol and 'value="mar"' not in sol
        assert 'value="19x9"' in sol and 'id="filter-year_from-error"' in sol
        assert 'id="filter-year_from-error"' not in page(web, "/?q=sol")
        portuguese = page(web, "/?q=mar", **{"Accept-Language": "pt-BR"})
        assert "Buscar no catálogo" in portuguese and "Search the catalog" not in portuguese
        assert "Search the catalog" in page(web, "/?q=mar", **{"Accept-Language": "en"})


def test_flasks_own_cookie_session_is_off_and_cannot_be_written(web: Flask) -> None:
    from flask import session

    response = web.test_client().get("/")
    cookies = [value.split("=", 1)[0] for value in response.headers.getlist("Set-Cookie")]
    assert cookies == [COOKIE_NAME]
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert response.headers["X-Frame-Options"] == "DENY"
    with web.test_request_context("/"), pytest.raises(RuntimeError):
        session["user"] = "someone"


def test_kept_pages_count_the_memory_they_take_and_parse_their_books_when_asked() -> None:
    pages = CatalogPages(max_bytes=10_000)
    page = KeptPage('"1"', b'[{"id": 1, "title": "Mar absoluto"}]', 1, {})
    pages.keep(api_key({"page": 1}), page)
    assert pages.bytes == sys.getsizeof(page.body)
    assert page.books == [{"id": 1, "title": "Mar absoluto"}]
    # A character beyond Latin-1 makes the whole text 2 bytes a character.
    pages.keep_rendered(api_key({"page": 1}), page, "variant", RenderedPage.of("—" * 3000))
    assert pages.bytes >= sys.getsizeof(page.body) + 6000
    pages.keep_rendered(api_key({"page": 1}), page, "other", RenderedPage.of("—" * 2000))
    assert len(pages) == 0 and pages.bytes == 0  # over 10,000 bytes: dropped whole
