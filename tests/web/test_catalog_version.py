"""The catalog's version as each worker learns it (a poll, not a question per view), the pages
served without asking the API while it is current, this browser's and this worker's own writes
seen at once, the fallback when the poll fails, and the page kept once for every browser with
only each browser's own CSRF token and name put into it.

The Books Service is httpx's in-memory transport (tests/web/conftest.py). The polls here are
made by hand: the interval is long, so the thread's own polls (one when it starts, then one
every 5 s) change nothing a test looks at; the tests of the version alone start no thread."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import ValidationError

from common.request_log import POLL_HEADER
from tests.support.fake_books import HTMX, FakeBooks, book, logged_in
from web_service.catalog_pages import CSRF_STAND_IN, NAME_STAND_IN, RenderedPage
from web_service.catalog_version import CatalogVersion
from web_service.config import WebSettings
from web_service.cookies import COOKIE_NAME
from web_service.csrf import csrf_token
from web_service.views.catalog import WROTE_COOKIE

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
SLOW = 5.0  # the interval of the workers here: their version stays current for 10 s


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_version_is_current_only_for_twice_the_interval_after_the_poll_that_confirmed_it() -> (
    None
):
    clock = Clock()
    asked: list[str | None] = []

    def probe(previous: str | None) -> str:
        asked.append(previous)
        return 'W/"7-a"'

    version = CatalogVersion(probe, interval=0.25, clock=clock)
    version.close()  # no thread: polls by hand only
    try:
        assert version.current() is None  # nothing confirmed yet
        version.poll()
        assert version.current() == 'W/"7-a"'
        clock.now += 0.5
        assert version.current() == 'W/"7-a"'
        clock.now += 0.01
        assert version.current() is None  # the poll is late: every view asks the API
        version.poll()
        assert version.current() == 'W/"7-a"'
        assert asked[-1] == 'W/"7-a"'  # asked with If-None-Match: a 304
    finally:
        version.close()


def test_a_failing_poll_makes_the_version_unknown_at_once() -> None:
    answers: list[object] = ['W/"1-a"', ConnectionError("down"), None, 'W/"2-a"']

    def probe(previous: str | None) -> str | None:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    version = CatalogVersion(probe, interval=SLOW)
    version.close()
    try:
        version.poll()
        assert version.current() == 'W/"1-a"'
        version.poll()
        assert version.current() is None
        version.poll()  # an answer without a tag tells nothing either
        assert version.current() is None
        version.poll()
        assert version.current() == 'W/"2-a"'
    finally:
        version.close()


def test_a_poll_that_started_before_a_write_here_cannot_confirm_the_version_again() -> None:
    version: CatalogVersion

    def probe_answered_before_the_write_commits(previous: str | None) -> str:
        version.forget()  # the write's answer came while this poll was on its way
        return 'W/"1-a"'

    version = CatalogVersion(probe_answered_before_the_write_commits, interval=SLOW)
    version.close()
    try:
        version.poll()
        assert version.current() is None
        version._probe = lambda previous: 'W/"2-a"'
        version.poll()
        assert version.current() == 'W/"2-a"'
        version.forget()
        assert version.current() is None
    finally:
        version.close()


def test_no_poll_at_all_when_the_interval_is_zero() -> None:
    version = CatalogVersion(lambda previous: 'W/"1-a"', interval=0)
    version.poll()
    assert version.current() is None
    assert version._thread is None


@pytest.mark.parametrize("value", ["0.01", "-1", "6", "nan", "soon"])
def test_the_poll_setting_refuses_bad_values(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CATALOG_VERSION_POLL", value)
    with pytest.raises(ValidationError):
        WebSettings(environment="test")


def test_the_poll_setting_takes_zero_and_sensible_intervals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for value, expected in (("0", 0.0), ("0.05", 0.05), ("1", 1.0), ("5", 5.0)):
        monkeypatch.setenv("WEB_CATALOG_VERSION_POLL", value)
        assert WebSettings(environment="test").catalog_version_poll == expected
    monkeypatch.delenv("WEB_CATALOG_VERSION_POLL")
    assert WebSettings(environment="test").catalog_version_poll == 0.25


def polled(web: Flask) -> CatalogVersion:
    version: CatalogVersion = web.extensions["estante.web.catalog_version"]
    version.poll()
    assert version.current() is not None
    return version


def text(client: FlaskClient, path: str = "/", **headers: str) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_while_the_version_is_current_views_do_not_ask_the_api(
    make_web: Callable[..., Flask], books: FakeBooks
) -> None:
    web = make_web(catalog_version_poll=SLOW)
    client = web.test_client()
    polled(web)
    for headers in ({}, HTMX):
        assert "Romanceiro da Inconfidência" in text(client, **headers)
    reads = len(books.page_reads)
    for _ in range(3):
        for headers in ({}, HTMX):
            assert "Romanceiro da Inconfidência" in text(client, **headers)
    assert len(books.page_reads) == reads


def test_a_change_made_elsewhere_shows_once_a_poll_has_seen_it(
    make_web: Callable[..., Flask], books: FakeBooks
) -> None:
    web = make_web(catalog_version_poll=SLOW)
    client = web.test_client()
    polled(web)
    for headers in ({}, HTMX):
        text(client, **headers)
    books.change([book(2, "Viagem")])  # through the API, by someone else
    polled(web)
    for headers in ({}, HTMX):
        page = text(client, **headers)
        assert "Viagem" in page and "Romanceiro" not in page


def test_a_stale_version_makes_every_view_ask_the_api(
    make_web: Callable[..., Flask], books: FakeBooks
) -> None:
    web = make_web(catalog_version_poll=SLOW)
    version = polled(web)
    client = web.test_client()
    text(client)
    version.max_age = 0  # the last poll is too old now
    books.change([book(2, "Viagem")])
    reads = len(books.page_reads)
    assert "Viagem" in text(client)
    assert "Viagem" in text(client, **HTMX)
    assert len(books.page_reads) == reads + 2


def test_when_the_poll_fails_views_ask_the_api_and_say_when_it_is_down(
    make_web: Callable[..., Flask], books: FakeBooks
) -> None:
    web = make_web(catalog_version_poll=SLOW)
    version = polled(web)
    client = web.test_client()
    text(client)
    books.down = True
    version.poll()
    assert version.current() is None
    answer = client.get("/")
    assert answer.status_code == 503
    assert "The Books Service is not answering" in answer.get_data(as_text=True)
    books.down = False
    books.change([book(2, "Viagem")])
    reads = len(books.page_reads)
    assert "Viagem" in text(client)  # the poll has not answered again: asked all the same
    assert len(books.page_reads) == reads + 1


def delete_through_the_web(client: FlaskClient, book_id: int) -> None:
    form = text(client, f"/books/{book_id}/delete")
    token = CSRF_FIELD.search(form)
    assert token
    answer = client.post(
        f"/books/{book_id}/delete", data={"csrf_token": token.group(1), "etag": '"1"'}
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)


def test_a_write_through_the_web_shows_at_once_in_that_worker_for_everyone(
    make_web: Callable[..., Flask], books: FakeBooks
) -> None:
    books.change([book(1, "Romanceiro da Inconfidência"), book(2, "Viagem")])
    web = make_web(catalog_version_poll=SLOW)
    polled(web)
    librarian, someone = logged_in(web, "librarian"), web.test_client()
    for client in (librarian, someone):
        for headers in ({}, HTMX):
            assert "Viagem" in text(client, **headers)
    delete_through_the_web(librarian, 2)
    for client in (someone, librarian):  # someone else first: no cookie says they wrote
        for headers in ({}, HTMX):
            assert "Viagem" not in text(client, **headers)


def test_a_write_through_one_worker_shows_at_once_to_that_browser_on_another(
    make_web: Callable[..., Flask], books: FakeBooks
) -> None:
    books.change([book(1, "Romanceiro da Inconfidência"), book(2, "Viagem")])
    one, other = make_web(catalog_version_poll=SLOW), make_web(catalog_version_poll=SLOW)
    polled(one), polled(other)
    librarian = logged_in(one, "librarian")
    on_other = other.test_client()
    on_other.set_cookie(COOKIE_NAME, librarian.get_cookie(COOKIE_NAME).value)  # type: ignore[union-attr]
    for headers in ({}, HTMX):
        assert "Viagem" in text(on_other, **headers)  # kept by the other worker
    delete_through_the_web(librarian, 2)
    wrote = librarian.get_cookie(WROTE_COOKIE)
    assert wrote is not None and wrote.http_only and wrote.same_site == "Lax"
    on_other.set_cookie(WROTE_COOKIE, wrote.value)
    for headers in ({}, HTMX):
        assert "Viagem" not in text(on_other, **headers)


def test_an_import_seen_finished_counts_as_a_write_of_its_browser(
    make_web: Callable[..., Flask], books: FakeBooks
) -> None:
    web = make_web(catalog_version_poll=SLOW)
    version = polled(web)
    librarian = logged_in(web, "librarian")
    job = {"id": 5, "state": "running", "rows_total": 2, "rows_done": 1, "created": 1}
    books.jobs[5] = {**job, "updated": 0, "skipped": 0, "rejected": 0, "dry_run": False}
    text(librarian, "/imports/5/status")
    assert librarian.get_cookie(WROTE_COOKIE) is None and version.current() is not None
    books.jobs[5].update(state="succeeded", rows_done=2, created=2)
    text(librarian, "/imports/5/status")
    assert librarian.get_cookie(WROTE_COOKIE) is not None


def test_a_cookie_saying_it_wrote_that_is_not_a_time_only_makes_its_browser_ask(
    make_web: Callable[..., Flask], books: FakeBooks
) -> None:
    web = make_web(catalog_version_poll=SLOW)
    polled(web)
    client = web.test_client()
    text(client)
    for forged in ("<script>", "9" * 4000):
        client.set_cookie(WROTE_COOKIE, forged)
        reads = len(books.page_reads)
        text(client)
        assert len(books.page_reads) == reads + 1


def tokens_and_names(page: str) -> tuple[set[str], str]:
    account = re.search(r'id="nav-account" href="[^"]*">([^<]*)</a>', page)
    return set(CSRF_FIELD.findall(page)) | set(
        re.findall(r'"X-CSRF-Token": "([^"]*)"', page)
    ), account.group(1) if account else ""


def session_token(web: Flask, client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE_NAME)
    assert cookie is not None
    session_id = web.extensions["estante.web.sessions"].signer.unsign(cookie.value)
    return csrf_token(web.config["SECRET_KEY"], session_id)


def test_a_page_kept_for_everyone_carries_only_each_browsers_own_token_and_name(
    make_web: Callable[..., Flask], books: FakeBooks
) -> None:
    web = make_web(catalog_version_poll=SLOW)
    polled(web)
    ana = logged_in(web, "reader", "ana")
    bia = logged_in(web, "reader", 'bia <b>&"')
    anonymous, other_anonymous = web.test_client(), web.test_client()
    for _ in range(3):  # the first views render the page, the others reuse it
        for client, name in ((ana, "ana"), (bia, "bia &lt;b&gt;&amp;&#34;")):
            page = text(client)
            tokens, shown = tokens_and_names(page)
            assert tokens == {session_token(web, client)}
            assert shown == name
        for client in (anonymous, other_anonymous):
            page = text(client)
            tokens, shown = tokens_and_names(page)
            assert tokens == {session_token(web, client)} and shown == ""
            assert "ana" not in page and "bia" not in page
    assert session_token(web, anonymous) != session_token(web, other_anonymous)
    assert len({session_token(web, c) for c in (ana, bia, anonymous, other_anonymous)}) == 4


def test_a_kept_page_never_shows_its_stand_ins() -> None:
    page = RenderedPage.of(f"<b>{NAME_STAND_IN}</b> {CSRF_STAND_IN}{CSRF_STAND_IN}.")
    assert page.fill("t0k", "<ana>") == "<b>&lt;ana&gt;</b> t0kt0k."
    assert page.fill("", None) == "<b></b> ."


def test_only_the_version_poll_says_it_is_a_poll(
    make_web: Callable[..., Flask], books: FakeBooks
) -> None:
    """The Books Service logs a poll's "nothing changed" at DEBUG (common.request_log): the
    catalog's own reads must never claim to be one."""
    web = make_web(catalog_version_poll=SLOW)
    polled(web)
    text(web.test_client())
    polls = [r for r in books.seen if r.url.params.get("limit") == "1"]
    assert polls and all(r.headers.get(POLL_HEADER) == "catalog-version" for r in polls)
    assert books.page_reads and not [r for r in books.page_reads if POLL_HEADER in r.headers]
