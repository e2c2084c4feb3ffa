"""Broad searches (books_service.broad_search): on PostgreSQL a search matching more than a cap
is counted by an estimate that the response announces, and ranked within windows of ids. Checked
against the exact path on the same catalog: the same matches, each on exactly one page forwards
and backwards, the exact order kept inside each window, the estimate header present exactly
when the count is estimated; and SQLite unchanged (always exact). A generated catalog of 2,500
books, on both databases, behind the real service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.seed import seed, vocabulary
from books_service import broad_search, listing
from books_service.responses import ESTIMATED
from common.db import Database
from common.pagination import Cursor
from tests.support.catalog import BACKENDS, Catalog, catalog_fixture
from tests.support.web import text_of, web_app

BOOKS = 2_500
WORDS = vocabulary()
BROAD = WORDS[0]  # the most frequent word: in most of the books, over 1,000 of them
COMMON = WORDS[29]  # in a few percent: some 100 books, broad under a cap of 20
CAP = 20


@pytest.fixture(scope="module", params=BACKENDS)
def catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Catalog]:
    for catalog in catalog_fixture(request, tmp_path_factory):
        seed(catalog.stack.database_url("books"), BOOKS, report=lambda _: None)
        yield catalog


@pytest.fixture(scope="module")
def database(catalog: Catalog) -> Iterator[Database]:
    db = Database(catalog.stack.database_url("books"))
    yield db
    db.dispose()


def walk(
    db: Database, q: str, *, exact_up_to: int, limit: int = 7, sort: str | None = None
) -> tuple[list[int], list[listing.BookPage]]:
    """Every page of a search, following the next cursors from the first page."""
    pages: list[listing.BookPage] = []
    cursor: str | None = None
    while True:
        with db.read() as session:
            page = listing.list_books(
                session,
                listing.Filters(q=q),
                sort=sort,
                limit=limit,
                cursor=cursor,
                exact_up_to=exact_up_to,
            )
        pages.append(page)
        if page.page.next is None:
            break
        cursor = page.page.next.encode()
    return [book["id"] for page in pages for book in page.books], pages


def walk_back(db: Database, q: str, last: Cursor, *, exact_up_to: int, limit: int = 7) -> list[int]:
    """Every page of a search, following the prev cursors from its last page."""
    ids: list[int] = []
    cursor: str | None = last.encode()
    while cursor:
        with db.read() as session:
            page = listing.list_books(
                session,
                listing.Filters(q=q),
                sort=None,
                limit=limit,
                cursor=cursor,
                exact_up_to=exact_up_to,
            )
        ids = [book["id"] for book in page.books] + ids
        cursor = page.page.prev.encode() if page.page.prev else None
    return ids


def postgres(database: Database) -> bool:
    return database.engine.dialect.name == "postgresql"


@pytest.mark.parametrize("q", [COMMON, f"{WORDS[1]} {WORDS[3][:4]}"])
def test_walking_a_broad_search_shows_every_match_of_the_exact_path_exactly_once(
    database: Database, q: str
) -> None:
    exact, _ = walk(database, q, exact_up_to=10**9)
    windowed, _ = walk(database, q, exact_up_to=CAP)
    assert len(exact) > CAP
    assert len(windowed) == len(set(windowed))
    assert sorted(windowed) == sorted(exact)
    if not postgres(database):
        assert windowed == exact  # SQLite ranks every search exactly


def test_a_windowed_walk_keeps_the_exact_order_inside_each_window(database: Database) -> None:
    if not postgres(database):
        pytest.skip("only PostgreSQL ranks broad searches by windows")
    exact, _ = walk(database, COMMON, exact_up_to=10**9)
    windowed, pages = walk(database, COMMON, exact_up_to=CAP)
    next_cursor = pages[0].page.next
    assert next_cursor is not None and next_cursor.values is not None
    size = next_cursor.values[0]
    window = [(book_id - 1) // size for book_id in windowed]
    assert window == sorted(window), "windows come in id order"
    for w in set(window):
        assert [i for i in windowed if (i - 1) // size == w] == [
            i for i in exact if (i - 1) // size == w
        ]


def test_walking_back_from_the_last_page_shows_the_same_matches(database: Database) -> None:
    forwards, pages = walk(database, COMMON, exact_up_to=CAP)
    backwards = walk_back(database, COMMON, pages[0].page.last, exact_up_to=CAP)
    assert backwards == forwards


@pytest.mark.parametrize("sort", [None, "title", "-id"])
def test_the_count_is_estimated_exactly_when_the_search_is_broad(
    database: Database, sort: str | None
) -> None:
    exact, exact_pages = walk(database, COMMON, exact_up_to=10**9, sort=sort)
    windowed, pages = walk(database, COMMON, exact_up_to=CAP, sort=sort)
    assert sorted(windowed) == sorted(exact)
    assert {p.estimated for p in exact_pages} == {False}
    assert {p.total for p in exact_pages} == {len(exact)}
    if postgres(database):
        assert {p.estimated for p in pages} == {True}
        assert all(p.total > CAP for p in pages)
        assert all(p.total == broad_search.about(p.total) for p in pages)
    else:
        assert {p.estimated for p in pages} == {False}
        assert {p.total for p in pages} == {len(exact)}


def test_a_search_under_the_cap_is_counted_exactly_and_ranked_as_before(
    database: Database,
) -> None:
    rare = WORDS[400]
    exact, _ = walk(database, rare, exact_up_to=10**9)
    capped, pages = walk(database, rare, exact_up_to=max(len(exact), 1))
    assert capped == exact
    assert {(p.total, p.estimated) for p in pages} == {(len(exact), False)}


def test_a_book_added_during_a_walk_moves_nothing_and_is_found_at_its_end(
    catalog: Catalog, database: Database
) -> None:
    before, pages = walk(database, COMMON, exact_up_to=CAP)
    halfway = pages[len(pages) // 2].page.next
    assert halfway is not None
    # Found by its description only, so last in every order: after the walk, in its last tier
    # (and on PostgreSQL in the last window, which new ids fall in).
    added = catalog.add(title="Livro Novo", author="Autora Nova", description=COMMON)
    try:
        rest: list[int] = []
        cursor: str | None = halfway.encode()
        while cursor:
            with database.read() as session:
                page = listing.list_books(
                    session,
                    listing.Filters(q=COMMON),
                    sort=None,
                    limit=7,
                    cursor=cursor,
                    exact_up_to=CAP,
                )
            rest += [book["id"] for book in page.books]
            cursor = page.page.next.encode() if page.page.next else None
        shown = before[: before.index(rest[0])] + rest
        assert shown == [*before, added["id"]]
    finally:
        catalog.request("DELETE", f"/books/{added['id']}", headers=catalog.librarian)


def estimated_header(response: requests.Response) -> str | None:
    response.raise_for_status()
    return response.headers.get(ESTIMATED)


def test_the_response_says_when_its_count_is_an_estimate(catalog: Catalog) -> None:
    broad = catalog.books(q=BROAD)
    total = int(broad.headers["X-Total-Count"])
    if catalog.backend == "postgres":
        assert estimated_header(broad) == "true"
        assert total > broad_search.EXACT_UP_TO
        # The page cache keeps the header with the page.
        assert estimated_header(catalog.books(q=BROAD)) == "true"
    else:
        assert estimated_header(broad) is None
    small = catalog.books(q=WORDS[400])
    assert estimated_header(small) is None
    assert int(small.headers["X-Total-Count"]) == len(catalog.walk(f"/books?q={WORDS[400]}"))
    assert estimated_header(catalog.books()) is None


def test_the_openapi_document_describes_the_estimate_header(catalog: Catalog) -> None:
    document: dict[str, Any] = catalog.get("/openapi.json").json()
    headers = document["paths"]["/books"]["get"]["responses"]["200"]["headers"]
    assert ESTIMATED in headers and "estimate" in headers[ESTIMATED]["description"]


@pytest.mark.parametrize(
    "values",
    [(0, 0, 0, 1), (2**31, 0, 0, 1), (10, 2**40, 0, 1), (10, 0, 3, 1), (10, 0, 0, 2**40)],
)
def test_a_windowed_cursor_out_of_range_is_a_422(catalog: Catalog, values: tuple[int, ...]) -> None:
    cursor = Cursor("relevance", values, False).encode()
    response = catalog.get("/books", q=COMMON, cursor=cursor)
    assert response.status_code == 422, response.text


def test_a_windowed_cursor_past_the_end_gives_an_empty_page(catalog: Catalog) -> None:
    if catalog.backend != "postgres":
        pytest.skip("windowed cursors are PostgreSQL's")
    for backwards in (False, True):
        cursor = Cursor("relevance", (1000, 2**31 - 1, 2, 2**31 - 1), backwards).encode()
        response = catalog.get("/books", q=COMMON, cursor=cursor)
        assert response.status_code == 200, response.text
        if not backwards:
            assert response.json() == []
        else:  # before a position past the end: the last page
            assert response.json()


def test_the_web_catalog_says_about_when_the_count_is_an_estimate(
    catalog: Catalog, tmp_path: Path
) -> None:
    client = web_app(catalog.stack, tmp_path / "web").test_client()
    for q in (BROAD, WORDS[400]):
        answer = catalog.books(q=q)
        count = f"{int(answer.headers['X-Total-Count']):,}"
        page = text_of(client.get(f"/?q={q}"))
        if answer.headers.get(ESTIMATED) == "true":
            assert f"about {count} books" in page
        else:
            assert f"{count} book" in page and f"about {count}" not in page
