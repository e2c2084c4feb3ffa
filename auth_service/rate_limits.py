"""Per-address request limits on the endpoints strangers can call (Flask-Limiter).

With ``REDIS_URL`` set the counters live in Redis and hold across every worker and replica;
without it each worker process counts on its own (the embedded default: the limits are then
per worker, which the README says). Login failures are throttled separately, through the
database, in :mod:`auth_service.throttle`.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from auth_service.config import AuthSettings

# Which endpoints are limited, by which setting. Both the current and the legacy paths.
LIMITED_ENDPOINTS = {
    "auth.login": "login",
    "auth_legacy.login": "login",
    "auth.register": "register",
    "auth_legacy.register": "register",
    "auth.refresh": "refresh",
}


def init_rate_limits(app: Flask, settings: AuthSettings) -> Limiter:
    """Create the app's limiter and wrap the limited views (call after registering routes)."""
    app.config.update(
        RATELIMIT_ENABLED=settings.rate_limits_enabled,
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_KEY_PREFIX=settings.rate_limit_key_prefix,
        # If Redis goes away, keep limiting per process rather than failing every request.
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_STRATEGY="moving-window",
    )
    limits = {
        "login": settings.rate_limit_login,
        "register": settings.rate_limit_register,
        "refresh": settings.rate_limit_refresh,
    }
    limiter = Limiter(key_func=get_remote_address, app=app)
    # The wrapped views hold the limiter only weakly; the app must keep it alive.
    app.extensions["estante.limiter"] = limiter
    for endpoint, name in LIMITED_ENDPOINTS.items():
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(limits[name], scope=name)(view)
    return limiter
