"""The catalog page against the real Books Service: search (accent-insensitive, from the API),
htmx partials, filters, pages and the empty and no-results states."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from tests.support.clients import bearer
from tests.support.harness import Stack
from tests.support.web import (
    new_user,
    post_form,
    start_apis,
    text_of,
    wait_out_the_staleness_bound,
    web_app,
)

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/"}


@pytest.fixture(scope="module")
def tag(web_apis: Stack) -> str:
    """A word only this module's books carry, and 60 books with it (more than one page)."""
    word = f"zq{uuid.uuid4().hex[:6]}"
    token = web_apis.token()
    for n in range(60):
        response = requests.post(
            f"{web_apis.books_url}/books?allow_duplicate=true",
            json={
                "title": f"Coração {word} {n:02d}",
                "author": "José de Alencar" if n % 2 else "Cecília Meireles",
                "language": "pt" if n < 50 else "en",
                "published_year": 1850 + n,
                "subjects": ["Poesia"] if n % 3 == 0 else ["Romance"],
            },
            headers=bearer(token),
            timeout=10,
        )
        assert response.status_code == 201, response.text
    return word


def test_the_full_page_and_the_htmx_partial_show_the_same_results(web: Flask, tag: str) -> None:
    client = web.test_client()
    full = client.get(f"/?q={tag}")
    partial = client.get(f"/?q={tag}", headers=HTMX)
    assert full.status_code == partial.status_code == 200
    assert "<html" in text_of(full) and 'id="catalog-search"' in text_of(full)
    assert "<html" not in text_of(partial) and 'id="catalog-search"' not in text_of(partial)
    assert 'id="book-list"' in text_of(partial)
    assert "60 books" in text_of(partial)
    assert partial.headers["Vary"] == "HX-Request"


def test_the_address_bar_gets_the_search_without_empty_fields(web: Flask, tag: str) -> None:
    response = web.test_client().get(
        f"/?q={tag}&author=&subject=&language=&sort=title&year_from=", headers=HTMX
    )
    assert response.headers["HX-Push-Url"] == f"/?q={tag}&sort=title"


def test_a_history_restore_gets_the_whole_page(web: Flask, tag: str) -> None:
    response = web.test_client().get(
        f"/?q={tag}", headers={**HTMX, "HX-History-Restore-Request": "true"}
    )
    assert "<html" in text_of(response)


def test_search_ignores_accents_and_case(web: Flask, tag: str) -> None:
    page = text_of(web.test_client().get(f"/?q=CORACAO+{tag}+07", headers=HTMX))
    assert "1 book" in page
    assert f"Coração {tag} 07" in page


def test_filters_narrow_the_results(web: Flask, tag: str) -> None:
    client = web.test_client()
    by_author = text_of(client.get(f"/?q={tag}&author=jose+de+alencar", headers=HTMX))
    assert "30 books" in by_author
    by_language = text_of(client.get(f"/?q={tag}&language=en", headers=HTMX))
    assert "10 books" in by_language
    by_years = text_of(client.get(f"/?q={tag}&year_from=1850&year_to=1859", headers=HTMX))
    assert "10 books" in by_years
    by_subject = text_of(client.get(f"/?q={tag}&subject=poesia", headers=HTMX))
    assert "20 books" in by_subject


def test_pages_follow_the_apis_cursors_and_keep_the_search(web: Flask, tag: str) -> None:
    client = web.test_client()
    first = text_of(client.get(f"/?q={tag}&sort=title", headers=HTMX))
    assert first.count('class="book-card"') == 50
    assert f"Coração {tag} 00" in first
    assert 'id="prev-page"' not in first
    next_url = (
        first.split('id="next-page" rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    )
    assert f"q={tag}" in next_url and "sort=title" in next_url and "cursor=" in next_url
    second = text_of(client.get(next_url, headers=HTMX))
    assert second.count('class="book-card"') == 10
    assert f"Coração {tag} 59" in second
    assert 'id="prev-page"' in second and 'id="next-page"' not in second


def test_no_results_says_what_to_do(web: Flask, tag: str) -> None:
    page = text_of(web.test_client().get(f"/?q={tag}+nothingmatchesthis"))
    assert 'id="no-results"' in page
    assert 'href="/"' in page


def test_an_invalid_filter_is_shown_on_its_field(web: Flask, tag: str) -> None:
    client = web.test_client()
    page = text_of(client.get("/?language=xx"))
    assert 'id="filter-language-error"' in page
    page = text_of(client.get("/?year_from=abc"))
    assert 'id="filter-year_from-error"' in page
    assert 'value="abc"' in page
    page = text_of(client.get("/?year_from=2000&year_to=1900"))
    assert "The first year must not be after the last." in page


def test_the_catalog_speaks_portuguese_with_numbers_formatted(web: Flask, tag: str) -> None:
    page = text_of(
        web.test_client().get(f"/?q={tag}", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
    )
    assert '<html lang="pt-BR">' in page
    assert "60 livros" in page
    assert "Buscar no catálogo" in page


@pytest.fixture(scope="module")
def empty_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Flask]]:
    stack = start_apis(tmp_path_factory.mktemp("empty-apis"))
    try:
        yield stack, web_app(stack, Path(tmp_path_factory.mktemp("empty-web")))
    finally:
        stack.stop()


def test_an_empty_catalog_says_how_to_start(empty_web: tuple[Stack, Flask]) -> None:
    stack, web = empty_web
    anonymous = text_of(web.test_client().get("/"))
    assert 'id="empty-catalog"' in anonymous
    assert "log in to add the first one" in anonymous
    librarian = web.test_client()
    new_user(stack, librarian)
    page = text_of(librarian.get("/"))
    assert 'id="empty-catalog"' in page
    assert 'href="/books/new"' in page


def test_the_catalog_stays_browsable_while_the_auth_service_is_down(
    empty_web: tuple[Stack, Flask],
) -> None:
    stack, web = empty_web
    stack.auth.stop()
    try:
        client = web.test_client()
        assert client.get("/").status_code == 200
        login = client.get("/login")
        assert login.status_code == 200

        refused = post_form(client, "/login", {"username": "a", "password": "b"})
        assert refused.status_code == 503
        assert "The Auth Service is not answering" in text_of(refused)
        assert "The catalog can still be browsed" in text_of(refused)
    finally:
        stack.auth.start()


def test_the_page_says_when_the_books_service_is_down(empty_web: tuple[Stack, Flask]) -> None:
    stack, web = empty_web
    stack.books.stop()
    wait_out_the_staleness_bound(web)
    try:
        response = web.test_client().get("/")
        assert response.status_code == 503
        assert "The Books Service is not answering" in text_of(response)
    finally:
        stack.books.start()


def test_htmx_gets_an_error_fragment_when_the_books_service_is_down(
    empty_web: tuple[Stack, Flask],
) -> None:
    stack, web = empty_web
    stack.books.stop()
    wait_out_the_staleness_bound(web)
    try:
        response = web.test_client().get("/?q=abc", headers=HTMX)
        assert response.status_code == 503
        assert "<html" not in text_of(response)
        assert 'id="error-page" data-status="503"' in text_of(response)
    finally:
        stack.books.start()


def test_the_same_page_in_two_languages_and_for_two_roles_keeps_each_its_own(
    empty_web: tuple[Stack, Flask],
) -> None:
    stack, web = empty_web
    anonymous = web.test_client()
    librarian = web.test_client()
    new_user(stack, librarian)
    for _ in range(2):
        english = text_of(anonymous.get("/", headers={"Accept-Language": "en"}))
        portuguese = text_of(anonymous.get("/", headers={"Accept-Language": "pt-BR"}))
        assert "The catalog is empty" in english and "The catalog is empty" not in portuguese
        assert "log in to add the first one" in english
        writer = text_of(librarian.get("/"))
        assert 'href="/books/new"' in writer.split('id="empty-catalog"')[1]
        assert "log in to add the first one" not in writer
        assert 'href="/books/new"' not in text_of(anonymous.get("/")).split("empty-catalog")[1]
