"""The catalog: search as you type, filters, sort and pages. One URL serves the whole page or,
to htmx, only the results (so the URL always says what is shown)."""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from types import SimpleNamespace
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    has_request_context,
    make_response,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from markupsafe import Markup
from werkzeug.wrappers import Response

from common.request_log import POLL_HEADER
from web_service.api_client import (
    ApiClient,
    ApiProblem,
    ServiceDown,
    next_and_prev,
    total_count,
)
from web_service.catalog_pages import (
    CSRF_STAND_IN,
    NAME_STAND_IN,
    CatalogPages,
    KeptPage,
    RenderedForms,
    RenderedPage,
    api_key,
)
from web_service.catalog_query import SORTS, CatalogQuery, parse_catalog_query
from web_service.catalog_version import CatalogVersion
from web_service.csrf import this_browsers_token
from web_service.sessions import current_user, get_sessions
from web_service.shared_reads import SharedReads, SharedReadTimeout
from web_service.views.support import WRITERS, books_api, is_htmx

catalog = Blueprint("catalog", __name__)

# The page whose ETag is the catalog's version: the smallest there is.
VERSION_PROBE = {"limit": 1}
# A browser that changed the catalog through this service sees every catalog page asked of the
# API for this long (the staleness bound, and a second for the clocks of several replicas).
WROTE_COOKIE = "estante_wrote"
CLOCK_MARGIN = 1.0
# What the pages' templates get for the user when rendered for every browser of a kind.
STAND_IN_USER = SimpleNamespace(username=NAME_STAND_IN)


def catalog_pages() -> CatalogPages:
    return current_app.extensions["estante.web.catalog_pages"]


def catalog_version() -> CatalogVersion:
    return current_app.extensions["estante.web.catalog_version"]


def init_catalog_freshness(app: Flask, books: ApiClient, interval: float) -> CatalogVersion:
    """The worker's :class:`CatalogVersion`, polled through ``books``; every write sent through
    ``books`` forgets it at once (this worker) and leaves the browser a cookie saying so (the
    other workers and replicas, which cannot be told, ask the API for that browser until the
    staleness bound has passed)."""

    def probe(previous: str | None) -> str | None:
        headers = {POLL_HEADER: "catalog-version"}
        if previous:
            headers["If-None-Match"] = previous
        response = books.request("GET", "/books", params=VERSION_PROBE, headers=headers)
        return response.headers.get("ETag") or None

    version = CatalogVersion(probe, interval)
    app.extensions["estante.web.catalog_version"] = version

    def written() -> None:
        version.forget()
        if has_request_context():
            g.catalog_written = True

    books.on_write = written
    app.extensions["estante.web.catalog_written"] = written

    @app.after_request
    def tell_the_browser_it_wrote(response: Response) -> Response:
        if g.get("catalog_written"):
            response.set_cookie(
                WROTE_COOKIE,
                str(int(time.time() * 1000)),
                max_age=math.ceil(version.max_age + CLOCK_MARGIN),
                path="/",
                secure=get_sessions().cookie_is_secure(),
                httponly=True,
                samesite="Lax",
            )
        return response

    return version


def catalog_written() -> None:
    """This browser changed the catalog by other means than a write through the Books API's
    client (an import it started has finished): as if it had written just now."""
    current_app.extensions["estante.web.catalog_written"]()


def wrote_recently(version: CatalogVersion) -> bool:
    """Whether this browser changed the catalog less than the staleness bound ago. A browser
    that forges or drops the cookie changes only how often its own views ask the API; one
    that is not a time asks."""
    sent = request.cookies.get(WROTE_COOKIE)
    if sent is None:
        return False
    if not sent.isascii() or not sent.isdigit() or len(sent) > 16:
        return True
    return time.time() - int(sent) / 1000 < version.max_age + CLOCK_MARGIN


def fetch_page(key: Hashable, params: dict[str, Any]) -> KeptPage:
    """The API's page for ``params``: the kept one while the catalog's version it was read
    under is current, else read (revalidated) once for every thread of this worker asking the
    same at the same time (see :mod:`web_service.shared_reads`)."""
    version = catalog_version()
    current = version.current()
    if current is not None and not wrote_recently(version):
        kept = catalog_pages().get(key)
        if kept is not None and kept.version == current:
            return kept
    shared: SharedReads[KeptPage] = current_app.extensions["estante.web.shared_reads"]
    try:
        return shared.read(key, lambda: read_page(key, params))
    except SharedReadTimeout:
        raise ServiceDown("books", "timeout") from None


def read_page(key: Hashable, params: dict[str, Any]) -> KeptPage:
    """The API's page for ``params``: what this worker kept when the API says (304) that it is
    still current, else the page it sends now (kept for the next view when it has an ETag)."""
    pages = catalog_pages()
    current = catalog_version().current()  # before the read: the page is at least as new
    kept = pages.get(key)
    headers = {"If-None-Match": kept.etag} if kept is not None else None
    response = books_api().request("GET", "/books", params=params, headers=headers)
    if response.status_code == 304 and kept is not None:
        kept.version = current
        return kept
    if response.status_code == 304:  # never asked for: no tag was sent
        raise ServiceDown("books", "HTTP 304 to a request without If-None-Match")
    page = KeptPage(
        etag=response.headers.get("ETag", ""),
        body=response.content,
        total=total_count(response),
        cursors=next_and_prev(response),
        version=current,
        total_estimated=response.headers.get("X-Total-Count-Estimated") == "true",
    )
    if page.etag:
        pages.keep(key, page)
    else:
        pages.forget(key)
    return page


def page_variant(partial: bool) -> Hashable | None:
    """Everything the answer depends on besides the API's page and the browser's own CSRF token
    and name: the locale, the kind of visitor, full page or htmx fragment, the path prefix and
    the query string as sent (the form, the pager's and the log-in link's URLs). None (not
    kept) for an overlong query string."""
    if len(request.query_string) > 2048:
        return None
    user = current_user()
    return (
        str(get_locale() or "en"),
        user is not None,
        user is not None and user.has_role(*WRITERS),
        user is not None and user.has_role("admin"),
        partial,
        request.script_root,
        request.query_string,
    )


def render_form(query: CatalogQuery, api_errors: dict[str, list[dict[str, str]]]) -> Markup:
    """The search form, filled in as the query string has it; kept per query string, locale
    and path prefix while the API found nothing wrong with the query (its errors are shown
    on their fields)."""
    forms: RenderedForms = current_app.extensions["estante.web.catalog_forms"]
    key = None
    if not api_errors and len(request.query_string) <= 2048:
        key = (str(get_locale() or "en"), request.script_root, request.query_string)
        kept = forms.get(key)
        if kept is not None:
            return kept
    html = render_template(
        "catalog/_search_form.html", query=query, api_errors=api_errors, sorts=SORTS
    )
    form = Markup(html)  # noqa: S704 (rendered by Jinja with autoescape on)
    if key is not None:
        forms.keep(key, form)
    return form


def render_answer(
    query: CatalogQuery,
    page: KeptPage | None,
    partial: bool,
    api_errors: dict[str, list[dict[str, str]]],
) -> RenderedPage:
    """The whole page or, to htmx, the results, for every browser of this kind: with stand-ins
    for the CSRF token and the user's name."""
    context = {
        "partial": partial,
        "query": query,
        "books": page.books if page else [],
        "total": page.total if page else None,
        "total_estimated": page.total_estimated if page else False,
        "cursors": page.cursors if page else {},
        "api_errors": api_errors,
        "csrf_token": CSRF_STAND_IN,
        "user": STAND_IN_USER if current_user() is not None else None,
    }
    results = Markup(render_template("catalog/_results.html", **context))  # noqa: S704
    if partial:
        # The address bar shows the search as typed, without the form's empty fields.
        # url_for takes **values: Any; its stub types them as the keyword-only _external & co.
        push_url: str = url_for("catalog.index", **query.url_args(query.cursor))  # type: ignore[arg-type]
        return RenderedPage.of(str(results), (("HX-Push-Url", push_url),))
    html = render_template(
        "catalog/index.html",
        form_html=render_form(query, api_errors),
        count_html=Markup(render_template("catalog/_count.html", **context)),  # noqa: S704
        results_html=results,
        **context,
    )
    return RenderedPage.of(html)


@catalog.get("/")
def index() -> Response:
    query = parse_catalog_query(request.args)
    params = query.api_params()
    key = api_key(params)
    page = None
    api_errors: dict[str, list[dict[str, str]]] = {}
    try:
        page = fetch_page(key, params)
    except ApiProblem as problem:
        if problem.status not in (400, 422):
            raise
        # The filters' errors name the filter; a rule over several names none ("body").
        for error in problem.errors or [{"type": "", "field": "body"}]:
            name = str(error.get("field", "")).split(".", 1)[0]
            api_errors.setdefault(name, []).append(error)
    partial = is_htmx()
    variant = page_variant(partial) if page is not None and not api_errors else None
    pages = catalog_pages()
    rendered = pages.rendered(page, variant) if page is not None and variant else None
    if rendered is None:
        rendered = render_answer(query, page, partial, api_errors)
        if page is not None and variant is not None:
            pages.keep_rendered(key, page, variant, rendered)
    user = current_user()
    response = make_response(
        rendered.fill(this_browsers_token(), user.username if user is not None else None)
    )
    response.headers.extend(rendered.headers)
    return response
