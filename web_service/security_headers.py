"""Headers on every answer: a Content-Security-Policy with no inline script or style at all
(htmx is configured by a meta tag, its own indicator styles are off), no framing, a strict
Referrer-Policy, no MIME sniffing, and no caching of pages that may show a user's data."""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Covers are images on the publishers' or libraries' own sites.
        "img-src 'self' https: http:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


def init_security_headers(app: Flask) -> None:
    header_items = tuple(HEADERS.items())

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        if not any(name in headers for name in HEADERS):  # the usual case: none set yet
            headers.extend(header_items)
        else:
            for name, value in header_items:
                headers.setdefault(name, value)
        if response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
            # One URL answers a whole page or, to htmx, the part it asked for.
            response.vary.add("HX-Request")
        return response
