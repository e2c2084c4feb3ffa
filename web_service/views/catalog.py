"""The catalog: search as you type, filters, sort and pages. One URL serves the whole page or,
to htmx, only the results (so the URL always says what is shown)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from flask import Blueprint, current_app, make_response, render_template, request, url_for
from flask_babel import get_locale
from markupsafe import Markup
from werkzeug.wrappers import Response

from web_service.api_client import ApiProblem, ServiceDown, next_and_prev, total_count
from web_service.catalog_pages import CatalogPages, KeptPage, RenderedForms, api_key
from web_service.catalog_query import SORTS, CatalogQuery, parse_catalog_query
from web_service.sessions import current_user
from web_service.shared_reads import SharedReads, SharedReadTimeout
from web_service.views.support import WRITERS, books_api, is_htmx

catalog = Blueprint("catalog", __name__)


def catalog_pages() -> CatalogPages:
    return current_app.extensions["estante.web.catalog_pages"]


def fetch_page(params: dict[str, Any]) -> KeptPage:
    """The API's page for ``params``, read once for every thread of this worker asking the
    same at the same time (see :mod:`web_service.shared_reads`)."""
    key = api_key(params)
    shared: SharedReads[KeptPage] = current_app.extensions["estante.web.shared_reads"]
    try:
        return shared.read(key, lambda: read_page(key, params))
    except SharedReadTimeout:
        raise ServiceDown("books", "timeout") from None


def read_page(key: Hashable, params: dict[str, Any]) -> KeptPage:
    """The API's page for ``params``: what this worker kept when the API says (304) that it is
    still current, else the page it sends now (kept for the next view when it has an ETag)."""
    pages = catalog_pages()
    kept = pages.get(key)
    headers = {"If-None-Match": kept.etag} if kept is not None else None
    response = books_api().request("GET", "/books", params=params, headers=headers)
    if response.status_code == 304 and kept is not None:
        return kept
    if response.status_code == 304:  # never asked for: no tag was sent
        raise ServiceDown("books", "HTTP 304 to a request without If-None-Match")
    page = KeptPage(
        etag=response.headers.get("ETag", ""),
        books=response.json(),
        total=total_count(response),
        cursors=next_and_prev(response),
    )
    if page.etag:
        pages.keep(key, page, len(response.content))
    else:
        pages.forget(key)
    return page


def results_variant(query: CatalogQuery, partial: bool) -> Hashable:
    """Everything the results' HTML depends on besides the API's page: the locale, what kind
    of visitor (the empty catalog's advice), full page or htmx fragment, and the page's own
    query and path prefix (the pager's links)."""
    user = current_user()
    role = "writer" if user and user.has_role(*WRITERS) else "user" if user else "anonymous"
    return (
        str(get_locale() or "en"),
        role,
        partial,
        request.script_root,
        tuple(query.values.items()),
        query.cursor,
    )


def render_results(
    query: CatalogQuery,
    page: KeptPage | None,
    partial: bool,
    api_errors: dict[str, list[dict[str, str]]],
) -> tuple[Markup, Markup]:
    """The result count and the results, as HTML: rendered once per variant of a kept page."""
    pages = catalog_pages()
    variant = results_variant(query, partial) if page is not None and not api_errors else None
    if variant is not None and page is not None:
        kept = pages.rendered(page, variant)
        if kept is not None:
            return kept
    context = {
        "partial": partial,
        "query": query,
        "books": page.books if page else [],
        "total": page.total if page else None,
        "cursors": page.cursors if page else {},
        "api_errors": api_errors,
    }
    count = "" if partial else render_template("catalog/_count.html", **context)
    results = render_template("catalog/_results.html", **context)
    # Both rendered by Jinja with autoescape on: already HTML, not text to escape again.
    parts = (Markup(count), Markup(results))  # noqa: S704
    if variant is not None and page is not None:
        pages.keep_rendered(page, variant, parts)
    return parts


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


@catalog.get("/")
def index() -> str | Response:
    query = parse_catalog_query(request.args)
    page = None
    api_errors: dict[str, list[dict[str, str]]] = {}
    try:
        page = fetch_page(query.api_params())
    except ApiProblem as problem:
        if problem.status not in (400, 422):
            raise
        # The filters' errors name the filter; a rule over several names none ("body").
        for error in problem.errors or [{"type": "", "field": "body"}]:
            name = str(error.get("field", "")).split(".", 1)[0]
            api_errors.setdefault(name, []).append(error)
    partial = is_htmx()
    count_html, results_html = render_results(query, page, partial, api_errors)
    if not partial:
        return render_template(
            "catalog/index.html",
            form_html=render_form(query, api_errors),
            count_html=count_html,
            results_html=results_html,
        )
    fragment = make_response(str(results_html))
    # The address bar shows the search as typed, without the form's empty fields.
    # url_for takes **values: Any; its stub types them as the keyword-only _external & co.
    push_url: str = url_for("catalog.index", **query.url_args(query.cursor))  # type: ignore[arg-type]
    fragment.headers["HX-Push-Url"] = push_url
    return fragment
