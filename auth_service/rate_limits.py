"""Per-address request limits on the endpoints strangers can call (Flask-Limiter).

The counters hold across every worker and replica: in Redis when ``REDIS_URL`` is set (moving
window), otherwise in the auth database (fixed window, :mod:`auth_service.rate_limit_storage`).
Password guessing is throttled separately, per user and address, in
:mod:`auth_service.throttle`.

``Retry-After`` is sent only when it means something: on a 429 (the limiter's own, or the
login throttle's, whose exact wait is kept) and on responses that set it themselves (a 503).
Flask-Limiter would otherwise put its window's reset on every response it counts, and raise a
throttle's shorter wait to it. The ``X-RateLimit-*`` headers stay on every limited response.
"""

from __future__ import annotations

from flask import Flask, Response, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from auth_service.config import AuthSettings
from auth_service.rate_limit_storage import SCHEME

# Which endpoints are limited, by which setting. Both the current and the legacy paths.
LIMITED_ENDPOINTS = {
    "auth.login": "login",
    "auth_legacy.login": "login",
    "auth.register": "register",
    "auth_legacy.register": "register",
    "auth.refresh": "refresh",
}


def _remember_retry_after(response: Response) -> Response:
    g.estante_retry_after = response.headers.get("Retry-After")
    return response


def _honest_retry_after(response: Response) -> Response:
    own = g.pop("estante_retry_after", None)
    if own is not None:
        response.headers["Retry-After"] = own
    elif response.status_code != 429:
        response.headers.pop("Retry-After", None)
    return response


def init_rate_limits(app: Flask, settings: AuthSettings) -> Limiter:
    """Create the app's limiter and wrap the limited views (call after registering routes and
    the database)."""
    db = app.extensions["estante.db"]
    app.config.update(
        RATELIMIT_ENABLED=settings.rate_limits_enabled,
        RATELIMIT_STORAGE_URI=settings.redis_url or f"{SCHEME}://",
        RATELIMIT_STORAGE_OPTIONS={} if settings.redis_url else {"database": db},
        RATELIMIT_KEY_PREFIX=settings.rate_limit_key_prefix,
        # If Redis goes away, keep limiting per process rather than failing every request.
        # (Without Redis the limits share the database the request needs anyway.)
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=bool(settings.redis_url),
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_STRATEGY="moving-window" if settings.redis_url else "fixed-window",
    )
    limits = {
        "login": settings.rate_limit_login,
        "register": settings.rate_limit_register,
        "refresh": settings.rate_limit_refresh,
    }
    # After-request hooks run in reverse order of registration: the first runs after the
    # limiter's (which writes the headers), the second before it.
    app.after_request(_honest_retry_after)
    limiter = Limiter(key_func=get_remote_address, app=app)
    app.after_request(_remember_retry_after)
    # The wrapped views hold the limiter only weakly; the app must keep it alive.
    app.extensions["estante.limiter"] = limiter
    for endpoint, name in LIMITED_ENDPOINTS.items():
        view = app.view_functions[endpoint]
        # Flask-Limiter types its decorator for coroutine views as well; these are plain ones.
        app.view_functions[endpoint] = limiter.limit(limits[name], scope=name)(view)  # type: ignore[assignment]
    return limiter
