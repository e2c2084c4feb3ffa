"""CSRF tokens: an HMAC of the browser's session id under the service's secret.

Nothing is stored: the token is recomputed to check it. It changes whenever the session id
does (at log-in and log-out), and a token from another browser or another installation never
matches. Every unsafe request must carry it, as the ``csrf_token`` form field or the
``X-CSRF-Token`` header (htmx sends the header, set once on ``<body hx-headers>``)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from flask import Flask, current_app, g, request
from werkzeug.exceptions import BadRequest

FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def csrf_token(secret: bytes, session_id: str) -> str:
    digest = hmac.new(secret, b"csrf\x00" + session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_valid(secret: bytes, session_id: str | None, sent: str | None) -> bool:
    """Whether ``sent`` is this session's token. No session id or no token: never valid."""
    if not session_id or not sent or len(sent) > 200:
        return False
    return hmac.compare_digest(csrf_token(secret, session_id), sent)


def init_csrf(app: Flask, secret: bytes) -> None:
    """Every unsafe request must carry this browser's token; the templates get ``csrf_token``."""

    @app.before_request
    def check_csrf() -> None:
        if request.method in SAFE_METHODS or request.endpoint in (None, "static"):
            return
        browser = g.get("browser")
        # A browser that came without a valid cookie has a session id minted just now: no
        # token it sends can be for it.
        session_id = browser.session_id if browser and not browser.cookie_changed else None
        sent = request.headers.get(HEADER) or request.form.get(FORM_FIELD)
        if not csrf_valid(secret, session_id, sent):
            raise CsrfRejected()

    @app.context_processor
    def csrf_in_templates() -> dict[str, str]:
        return {"csrf_token": this_browsers_token()}


def this_browsers_token() -> str:
    """The token this request's pages carry ("" before the session is loaded)."""
    browser = g.get("browser")
    return csrf_token(current_app.config["SECRET_KEY"], browser.session_id) if browser else ""


class CsrfRejected(BadRequest):
    """The form was not sent from one of this site's pages in this browser session."""
