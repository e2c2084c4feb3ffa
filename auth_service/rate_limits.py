"""Per-address request limits on the endpoints strangers can call (Flask-Limiter).

The counters hold across every worker and replica: in Redis when ``REDIS_URL`` is set (moving
window), otherwise in the auth database (fixed window, :mod:`auth_service.rate_limit_storage`).
Password guessing is throttled separately, per user and address, in
:mod:`auth_service.throttle`.

``Retry-After`` is sent only when it means something: on a 429 (the limiter's own, or the
login throttle's, whose exact wait is kept) and on responses that set it themselves (a 503).
Flask-Limiter would otherwise put its window's reset on every response it counts, and raise a
throttle's shorter wait to it. The ``X-RateLimit-*`` headers stay on every limited response.

``POST /token/refresh`` is mostly served in front of Flask (:mod:`auth_service.refresh_route`),
which counts it with :class:`ViewLimits`: in flask-limiter's own buckets, with its strategy, and
marks what it counted (:data:`COUNTED`) so that flask-limiter, should the request reach Flask,
does not count it again.
"""

from __future__ import annotations

from flask import Flask, Response, g, request
from flask_limiter import Limiter
from flask_limiter.constants import HeaderNames
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many

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
REFRESH_ENDPOINT = "auth.refresh"
# The environ key under which a request counted outside Flask carries the X-RateLimit-* headers
# it was counted with; flask-limiter leaves such a request alone (a request filter).
COUNTED = "estante.rate_limit.counted"


class ViewLimits:
    """One limited view's limits counted outside Flask exactly as flask-limiter counts them
    (``Limiter.__evaluate_limits``): the same bucket keys (``[key prefix,] address, scope``,
    the scope being ``scope_for``'s ``"<endpoint>:<scope>"`` of a scoped, unshared limit), the
    limits in the same order, one hit each, stopping at the first breached, and the headers of
    the first limit, from its window after the hits."""

    def __init__(self, limiter: Limiter, limits: str, endpoint: str, prefix: str) -> None:
        self._limiter = limiter
        self._items: list[RateLimitItem] = sorted(parse_many(limits))
        self._scope = f"{endpoint}:{LIMITED_ENDPOINTS[endpoint]}"
        self._prefix = prefix

    @property
    def enabled(self) -> bool:
        return self._limiter.enabled

    def hit(self, address: str) -> list[tuple[str, str]] | None:
        """Count a request from ``address`` (not empty): the ``X-RateLimit-*`` headers
        flask-limiter would add to its response, or ``None`` when it is not to be counted here:
        a limit is breached (flask-limiter refuses it), or the limiter is on its in-memory
        fallback (flask-limiter also notices when the storage is back). Raises what the storage
        raises."""
        strategy = self._limiter.limiter
        if strategy.storage is not self._limiter.storage:
            return None
        args = [self._prefix, address, self._scope] if self._prefix else [address, self._scope]
        for item in self._items:
            if not strategy.hit(item, *args, cost=1):
                return None
        first = self._items[0]
        window = strategy.get_window_stats(first, *args)
        return [
            (HeaderNames.LIMIT.value, str(first.amount)),
            (HeaderNames.REMAINING.value, str(window.remaining)),
            (HeaderNames.RESET.value, str(int(window.reset_time + 1))),
        ]


def _counted_already() -> bool:
    return COUNTED in request.environ


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
    limiter.request_filter(_counted_already)
    # The wrapped views hold the limiter only weakly; the app must keep it alive.
    app.extensions["estante.limiter"] = limiter
    for endpoint, name in LIMITED_ENDPOINTS.items():
        view = app.view_functions[endpoint]
        # Flask-Limiter types its decorator for coroutine views as well; these are plain ones.
        app.view_functions[endpoint] = limiter.limit(limits[name], scope=name)(view)  # type: ignore[assignment]
    app.extensions["estante.refresh_limits"] = ViewLimits(
        limiter, limits["refresh"], REFRESH_ENDPOINT, settings.rate_limit_key_prefix
    )
    return limiter
