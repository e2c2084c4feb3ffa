"""A book's page, adding, editing (with If-Match: never a silent overwrite) and deleting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for

from web_service.api_client import ApiProblem, next_and_prev, total_count
from web_service.book_form import (
    FIELD_NAMES,
    conflicts,
    errors_by_field,
    form_from_book,
    form_values,
    record_from_form,
)
from web_service.views.support import WRITERS, books_api, page_params, require_user, with_token

books = Blueprint("books", __name__)


def fetch_book(book_id: int) -> tuple[dict[str, Any], str]:
    try:
        response = books_api().request("GET", f"/books/{book_id}")
    except ApiProblem as problem:
        if problem.status == 404:
            abort(404)
        raise
    return response.json(), response.headers.get("ETag", "")


@books.get("/books/<int:book_id>")
def show(book_id: int) -> str:
    book, _ = fetch_book(book_id)
    try:
        response = books_api().request(
            "GET", f"/books/{book_id}/history", params=page_params(100, "history")
        )
        history, history_total, history_pages = (
            response.json(),
            total_count(response),
            next_and_prev(response),
        )
    except ApiProblem:
        history, history_total, history_pages = [], None, {}
    return render_template(
        "books/show.html",
        book=book,
        history=history,
        history_total=history_total,
        history_pages=history_pages,
    )


def originals(form: Mapping[str, str]) -> dict[str, str] | None:
    """What the edit form was opened with (its hidden ``original_*`` fields), if it says."""
    if "original_title" not in form:
        return None
    return {name: str(form.get(f"original_{name}", "")) for name in FIELD_NAMES}


def render_form(
    *,
    book: dict[str, Any] | None,
    values: dict[str, str],
    etag: str = "",
    problem: ApiProblem | None = None,
    status: int = 200,
    **extra: Any,
) -> tuple[str, int]:
    field_errors = errors_by_field(problem.errors) if problem is not None else {}
    return (
        render_template(
            "books/form.html",
            book=book,
            values=values,
            etag=etag,
            problem=problem,
            field_errors=field_errors,
            **extra,
        ),
        status,
    )


@books.route("/books/new", methods=["GET", "POST"])
@require_user(*WRITERS)
def add() -> Any:
    if request.method == "GET":
        return render_form(book=None, values=form_values({"copies": "1"}))
    values = form_values(request.form)
    allow_duplicate = request.form.get("allow_duplicate") == "1"
    try:
        response = with_token(
            books_api(),
            "POST",
            "/books",
            json=record_from_form(values),
            params={"allow_duplicate": "true"} if allow_duplicate else None,
        )
    except ApiProblem as problem:
        if problem.status in (400, 409, 422):
            return render_form(
                book=None,
                values=values,
                problem=problem,
                status=problem.status,
                duplicate_of=problem.body.get("existing_id") if problem.status == 409 else None,
            )
        raise
    created = response.json()
    return redirect(url_for("books.show", book_id=created["id"], notice="added"), code=303)


@books.route("/books/<int:book_id>/edit", methods=["GET", "POST"])
@require_user(*WRITERS)
def edit(book_id: int) -> Any:
    if request.method == "GET":
        book, etag = fetch_book(book_id)
        values = form_from_book(book)
        return render_form(book=book, values=values, etag=etag, original=values)
    values = form_values(request.form)
    for name in values:  # after a conflict: the fields where the other version was chosen
        if request.form.get(f"choose_{name}") == "theirs":
            values[name] = request.form.get(f"theirs_{name}", "")
    etag = request.form.get("etag", "")
    allow_duplicate = request.form.get("allow_duplicate") == "1"
    try:
        with_token(
            books_api(),
            "PUT",
            f"/books/{book_id}",
            json=record_from_form(values),
            # Without the ETag read with the form, no save: a blind PUT could overwrite.
            headers={"If-Match": etag or '"none"'},
            params={"allow_duplicate": "true"} if allow_duplicate else None,
        )
    except ApiProblem as problem:
        if problem.status == 404:
            abort(404)
        if problem.status == 412:
            book, current_etag = fetch_book(book_id)
            theirs = form_from_book(book)
            return render_form(
                book=book,
                values=values,
                etag=current_etag,
                status=409,
                conflict=conflicts(values, theirs, originals(request.form)),
                original=theirs,  # the base the next save starts from
            )
        if problem.status in (400, 409, 422, 428):
            book, _ = fetch_book(book_id)
            return render_form(
                book=book,
                values=values,
                etag=etag,
                original=originals(request.form),
                problem=problem,
                status=problem.status,
                duplicate_of=problem.body.get("existing_id") if problem.status == 409 else None,
            )
        raise
    return redirect(url_for("books.show", book_id=book_id, notice="saved"), code=303)


@books.route("/books/<int:book_id>/delete", methods=["GET", "POST"])
@require_user(*WRITERS)
def delete(book_id: int) -> Any:
    book, etag = fetch_book(book_id)
    if request.method == "GET":
        return render_template("books/delete.html", book=book, etag=etag)
    try:
        with_token(
            books_api(),
            "DELETE",
            f"/books/{book_id}",
            headers={"If-Match": request.form.get("etag") or '"none"'},
        )
    except ApiProblem as problem:
        if problem.status == 412:
            return render_template("books/delete.html", book=book, etag=etag, changed=True), 409
        raise
    return redirect(url_for("catalog.index", notice="deleted"), code=303)
