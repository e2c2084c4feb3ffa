"""Administrators' pages: the users (role, disable/enable) and the deleted books (restore,
purge for good)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for

from web_service.api_client import ApiProblem, next_and_prev, total_count
from web_service.views.support import auth_api, books_api, page_params, require_user, with_token

admin = Blueprint("admin", __name__, url_prefix="/admin")
ROLES = ("reader", "librarian", "admin")
PER_PAGE = 50


@admin.get("/users")
@require_user("admin")
def users() -> str:
    response = with_token(auth_api(), "GET", "/admin/users", params=page_params(PER_PAGE))
    return render_template(
        "admin/users.html",
        users=response.json(),
        total=total_count(response),
        cursors=next_and_prev(response),
        cursor=request.args.get("cursor", ""),
        roles=ROLES,
    )


@admin.post("/users/<int:user_id>")
@require_user("admin")
def update_user(user_id: int) -> Any:
    change: dict[str, Any] = {}
    role = request.form.get("role")
    if role is not None:
        if role not in ROLES:
            abort(400)
        change["role"] = role
    state = request.form.get("disabled")
    if state is not None:
        if state not in ("true", "false"):
            abort(400)
        change["disabled"] = state == "true"
    if not change:
        abort(400)
    cursor = request.form.get("cursor") or None
    try:
        with_token(auth_api(), "PATCH", f"/admin/users/{user_id}", json=change)
    except ApiProblem as problem:
        if problem.status == 404:
            abort(404)
        if problem.status == 409:
            return redirect(
                url_for("admin.users", cursor=cursor, problem="last_admin", user=user_id), code=303
            )
        raise
    return redirect(url_for("admin.users", cursor=cursor, notice="user_saved"), code=303)


@admin.get("/deleted")
@require_user("admin")
def deleted() -> str:
    response = with_token(books_api(), "GET", "/books/deleted", params=page_params(PER_PAGE))
    return render_template(
        "admin/deleted.html",
        books=response.json(),
        total=total_count(response),
        cursors=next_and_prev(response),
    )


def deleted_book(book_id: int) -> dict[str, Any]:
    try:
        return with_token(books_api(), "GET", f"/books/deleted/{book_id}").json()
    except ApiProblem as problem:
        if problem.status == 404:
            abort(404)
        raise


@admin.post("/deleted/<int:book_id>/restore")
@require_user("admin")
def restore(book_id: int) -> Any:
    allow_duplicate = request.form.get("allow_duplicate") == "1"
    try:
        with_token(
            books_api(),
            "POST",
            f"/books/{book_id}/restore",
            params={"allow_duplicate": "true"} if allow_duplicate else None,
        )
    except ApiProblem as problem:
        if problem.status == 404:
            abort(404)
        if problem.status == 409:
            return (
                render_template(
                    "admin/restore_conflict.html",
                    book=deleted_book(book_id),
                    problem=problem,
                    existing_id=problem.body.get("existing_id"),
                ),
                409,
            )
        raise
    return redirect(url_for("books.show", book_id=book_id, notice="restored"), code=303)


@admin.route("/deleted/<int:book_id>/purge", methods=["GET", "POST"])
@require_user("admin")
def purge(book_id: int) -> Any:
    book = deleted_book(book_id)
    if request.method == "GET":
        return render_template("admin/purge.html", book=book)
    try:
        with_token(books_api(), "DELETE", f"/books/deleted/{book_id}")
    except ApiProblem as problem:
        if problem.status == 404:
            abort(404)
        raise
    return redirect(url_for("admin.deleted", notice="purged"), code=303)
