"""Error pages: 400 (and a refused CSRF token), 403, 404, 405, 413, 500, and an API that is
down, saying which one and what still works."""

from __future__ import annotations

import logging

from flask import Flask, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from web_service.api_client import ApiProblem, ServiceDown
from web_service.csrf import CsrfRejected
from web_service.session_store import SessionStoreDown
from web_service.sessions import RefreshBusy, SessionEnded
from web_service.views.support import is_htmx

log = logging.getLogger("estante.web.errors")


def error_page(status: int, title: str, message: str, **extra: object) -> tuple[str, int]:
    """The whole error page, or to htmx (which swaps errors in too) the error alone, in place
    of the part it asked for."""
    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    return (
        render_template(template, status=status, title=title, message=message, **extra),
        status,
    )


def messages() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Bad request"), _("The request could not be understood.")),
        403: (
            _("Not allowed"),
            _("Your account's role does not allow this. Ask an administrator if you need it."),
        ),
        404: (
            _("Page not found"),
            _("There is nothing here. The book may have been deleted, or the address mistyped."),
        ),
        405: (_("Not allowed"), _("This page cannot be used that way.")),
        413: (_("Too large"), _("What you sent is too large.")),
        429: (_("Too many requests"), _("Wait a moment and try again.")),
    }


def init_errors(app: Flask) -> None:
    @app.errorhandler(CsrfRejected)
    def csrf_rejected(error: CsrfRejected) -> tuple[str, int]:
        return error_page(
            400,
            _("The form has expired"),
            _(
                "For your safety, forms only work from this site's own pages, in the browser "
                "session they were opened in. Go back, reload the page and send it again; "
                "nothing was changed."
            ),
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int] | HTTPException:
        status = error.code or 500
        if status >= 500:
            return server_error(error)
        title, message = messages().get(status, (_("Error"), error.description or ""))
        return error_page(status, title, message)

    @app.errorhandler(ServiceDown)
    def service_down(error: ServiceDown) -> tuple[str, int]:
        log.warning(
            "service unavailable",
            extra={"fields": {"service": error.service, "reason": error.reason}},
        )
        if error.service == "books":
            return error_page(
                503,
                _("The catalog is unavailable"),
                _(
                    "The Books Service is not answering, so books cannot be shown or changed "
                    "right now. Try again in a few minutes."
                ),
                down="books",
            )
        return error_page(
            503,
            _("Accounts are unavailable"),
            _(
                "The Auth Service is not answering, so logging in, registering and account "
                "pages do not work right now. The catalog can still be browsed."
            ),
            down="auth",
        )

    @app.errorhandler(SessionStoreDown)
    def store_down(error: SessionStoreDown) -> tuple[str, int]:
        # The driver's own error (Redis's, or the database's OperationalError), named in the log.
        cause = error.__cause__ or error
        log.warning("session store unavailable", extra={"fields": {"error": type(cause).__name__}})
        return error_page(
            503,
            _("Please try again"),
            _("The web service cannot reach its session store right now; try again shortly."),
        )

    @app.errorhandler(SessionEnded)
    def session_ended(error: SessionEnded) -> BaseResponse:
        target = request.full_path.rstrip("?") if request.method == "GET" else "/"
        return redirect(url_for("accounts.login", next=target, notice="session_ended"))

    @app.errorhandler(RefreshBusy)
    def refresh_busy(error: RefreshBusy) -> tuple[str, int]:
        return error_page(503, _("Please try again"), _("The server is busy; try again."))

    @app.errorhandler(ApiProblem)
    def api_problem(error: ApiProblem) -> tuple[str, int]:
        if error.status in (403, 404):
            title, message = messages()[error.status]
            return error_page(error.status, title, message)
        if error.status == 429:
            title, message = messages()[429]
            return error_page(429, title, message)
        log.warning(
            "unexpected API answer", extra={"fields": {"status": error.status, "type": error.type}}
        )
        return error_page(
            502,
            _("Something went wrong"),
            _("The request could not be completed: %(detail)s", detail=error.detail or error.title),
        )

    @app.errorhandler(Exception)
    def server_error(error: Exception) -> tuple[str, int]:
        log.exception("unhandled error", exc_info=error)
        return error_page(
            500,
            _("Something went wrong"),
            _("An unexpected error occurred; it has been logged. Try again later."),
        )
