"""Accounts: register, log in and out, my account (password, log out everywhere), and the
language switcher."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from web_service.api_client import ApiProblem
from web_service.cookies import LOCALE_COOKIE
from web_service.i18n import SUPPORTED_LOCALES
from web_service.sessions import current_user, get_sessions
from web_service.views.support import auth_api, require_user, safe_next, with_token

accounts = Blueprint("accounts", __name__)
ONE_YEAR = 365 * 86400


def wait_message(problem: ApiProblem) -> str:
    seconds = problem.retry_after
    if seconds is None:
        return _("Too many attempts. Wait a while and try again.")
    minutes, rest = divmod(seconds, 60)
    if minutes:
        return _(
            "Too many attempts. Try again in %(minutes)d min %(seconds)d s.",
            minutes=minutes,
            seconds=rest,
        )
    return _("Too many attempts. Try again in %(seconds)d seconds.", seconds=seconds)


@accounts.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(next_url)
        return render_template("accounts/login.html", next_url=next_url, username="")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    error, status, retry_after = None, 200, None
    if not username or not password:
        error, status = _("Enter your username and your password."), 400
    else:
        try:
            response = auth_api().request(
                "POST", "/login", json={"username": username, "password": password}
            )
        except ApiProblem as problem:
            status = problem.status
            if problem.status == 429:
                error, retry_after = wait_message(problem), problem.retry_after
            elif problem.status == 403:
                error = _("This account is disabled. Ask an administrator.")
            else:
                error = _("Wrong username or password.")
        else:
            get_sessions().start(response.json())
            separator = "&" if "?" in next_url else "?"
            return redirect(f"{next_url}{separator}notice=logged_in", code=303)
    return (
        render_template(
            "accounts/login.html",
            next_url=next_url,
            username=username,
            error=error,
            retry_after=retry_after,
        ),
        status,
    )


@accounts.route("/register", methods=["GET", "POST"])
def register() -> Any:
    if request.method == "GET":
        if current_user() is not None:  # as /login does: a second account would end this one
            return redirect(url_for("catalog.index"))
        return render_template("accounts/register.html", username="", field_errors={})
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    confirm = request.form.get("password_confirm", "")
    field_errors: dict[str, list[str]] = {}
    error, status = None, 200
    if password != confirm:
        field_errors["password_confirm"] = [_("The two passwords are not the same.")]
        status = 400
    if not username:
        field_errors["username"] = [_("Choose a username.")]
        status = 400
    if not field_errors:
        try:
            response = auth_api().request(
                "POST", "/register", json={"username": username, "password": password}
            )
        except ApiProblem as problem:
            status = problem.status
            if problem.status == 409:
                field_errors["username"] = [_("This username is taken. Choose another.")]
            elif problem.status == 429:
                error = wait_message(problem)
            else:
                for name, errors in problem.field_errors().items():
                    # The API explains its password and username rules; its words are shown.
                    key = name if name in ("username", "password") else ""
                    field_errors.setdefault(key, []).extend(
                        str(e.get("message", "")) for e in errors
                    )
                if not problem.errors:
                    error = problem.detail or problem.title
        else:
            get_sessions().start(response.json())
            return redirect(url_for("catalog.index", notice="registered"), code=303)
    return (
        render_template(
            "accounts/register.html", username=username, field_errors=field_errors, error=error
        ),
        status,
    )


@accounts.post("/logout")
def logout() -> BaseResponse:
    told = get_sessions().end()
    notice = "logged_out" if told else "logged_out_here"
    return redirect(url_for("catalog.index", notice=notice), code=303)


@accounts.get("/account")
@require_user()
def account() -> str:
    return render_template("accounts/account.html", field_errors={})


@accounts.post("/account/password")
@require_user()
def change_password() -> Any:
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    confirm = request.form.get("new_password_confirm", "")
    field_errors: dict[str, list[str]] = {}
    status = 400
    if not current:
        field_errors["current_password"] = [_("Enter your current password.")]
    if new != confirm:
        field_errors["new_password_confirm"] = [_("The two passwords are not the same.")]
    if not field_errors:
        try:
            with_token(
                auth_api(),
                "POST",
                "/me/password",
                json={"current_password": current, "new_password": new},
            )
        except ApiProblem as problem:
            status = problem.status
            if problem.status == 401:
                field_errors["current_password"] = [_("This is not your current password.")]
            elif problem.status == 429:
                field_errors["current_password"] = [wait_message(problem)]
            else:
                for name, errors in problem.field_errors().items():
                    key = name if name in ("current_password", "new_password") else "new_password"
                    field_errors.setdefault(key, []).extend(
                        str(e.get("message", "")) for e in errors
                    )
        else:
            return redirect(url_for("accounts.account", notice="password_changed"), code=303)
    return render_template("accounts/account.html", field_errors=field_errors), status


@accounts.post("/account/logout-all")
@require_user()
def logout_everywhere() -> BaseResponse:
    with_token(auth_api(), "POST", "/logout-all")
    get_sessions().forget()
    return redirect(url_for("catalog.index", notice="logged_out_everywhere"), code=303)


@accounts.post("/language")
def language() -> BaseResponse:
    chosen = request.form.get("locale", "")
    response = redirect(safe_next(request.form.get("next")), code=303)
    if chosen in SUPPORTED_LOCALES:
        response.set_cookie(
            LOCALE_COOKIE, chosen, max_age=ONE_YEAR, path="/", httponly=True, samesite="Lax"
        )
    return response
