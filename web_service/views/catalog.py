"""The catalog: search as you type, filters, sort and pages. One URL serves the whole page or,
to htmx, only the results (so the URL always says what is shown)."""

from __future__ import annotations

from flask import Blueprint, make_response, render_template, request, url_for
from werkzeug.wrappers import Response

from web_service.api_client import ApiProblem, next_and_prev, total_count
from web_service.catalog_query import SORTS, parse_catalog_query
from web_service.views.support import books_api, is_htmx

catalog = Blueprint("catalog", __name__)


@catalog.get("/")
def index() -> str | Response:
    query = parse_catalog_query(request.args)
    books: list[dict[str, object]] = []
    total = None
    cursors: dict[str, str] = {}
    api_errors: dict[str, list[dict[str, str]]] = {}
    try:
        response = books_api().request("GET", "/books", params=query.api_params())
        books = response.json()
        total = total_count(response)
        cursors = next_and_prev(response)
    except ApiProblem as problem:
        if problem.status not in (400, 422):
            raise
        # The filters' errors name the filter; a rule over several names none ("body").
        for error in problem.errors or [{"type": "", "field": "body"}]:
            name = str(error.get("field", "")).split(".", 1)[0]
            api_errors.setdefault(name, []).append(error)
    partial = is_htmx()
    page = render_template(
        "catalog/_results.html" if partial else "catalog/index.html",
        partial=partial,
        query=query,
        books=books,
        total=total,
        cursors=cursors,
        api_errors=api_errors,
        sorts=SORTS,
    )
    if not partial:
        return page
    fragment = make_response(page)
    # The address bar shows the search as typed, without the form's empty fields.
    # url_for takes **values: Any; its stub types them as the keyword-only _external & co.
    push_url: str = url_for("catalog.index", **query.url_args(query.cursor))  # type: ignore[arg-type]
    fragment.headers["HX-Push-Url"] = push_url
    return fragment
