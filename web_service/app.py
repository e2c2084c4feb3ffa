"""Application factory of the Web Service: a plain Flask app rendering HTML (Jinja2 + htmx),
with the house's request logs, metrics, health checks and start-up, and none of the APIs'
OpenAPI machinery (it serves pages, not an API)."""

from __future__ import annotations

import logging

from flask import Flask, Request, Response, g, request
from flask.sessions import SessionInterface, SessionMixin
from flask_babel import Babel
from werkzeug.middleware.proxy_fix import ProxyFix

from common.converters import AsciiIntegerConverter
from common.dbapi import DbApiDatabase
from common.health import ReadinessCheck, init_health, revision_check
from common.log_format import configure_logging
from common.metrics import init_metrics
from common.request_log import init_request_log
from web_service import __version__, formatting
from web_service.api_client import ApiClient
from web_service.catalog_pages import CatalogPages, RenderedForms
from web_service.config import WebSettings
from web_service.cookies import LOCALE_COOKIE, CookieSigner
from web_service.csrf import init_csrf
from web_service.i18n import choose_locale, compile_catalogs
from web_service.security_headers import init_security_headers
from web_service.session_store import RedisSessionStore, SessionStore, SqlSessionStore
from web_service.sessions import SessionManager, init_sessions
from web_service.shared_reads import SharedReads
from web_service.views import init_views
from web_service.views.catalog import init_catalog_freshness

log = logging.getLogger("estante.web")


def prepare(settings: WebSettings) -> None:
    """One-time work before any worker starts: check config, secret, migrate, translations."""
    settings.check()
    settings.prepare_data_dir()
    if not settings.is_production:
        settings.ensure_secret()
    settings.secret()  # readable, long enough: or a clear ConfigError now
    if settings.auto_migrate and not settings.redis_url:
        # Here, not at the top: the workers, which import this module, never load SQLAlchemy.
        from common import migrations

        migrations.upgrade("web", settings.database_url)
    compile_catalogs()


def make_store(app: Flask, settings: WebSettings) -> tuple[SessionStore, dict[str, ReadinessCheck]]:
    """The session store and its readiness checks: the store answers, and (in the database)
    the database is at its newest migration."""
    if settings.redis_url:
        redis = RedisSessionStore(settings.redis_url, settings.redis_key_prefix)
        return redis, {"sessions": redis.ping}
    db = DbApiDatabase(settings.database_url)
    app.extensions["estante.web.sessions_db"] = db
    store = SqlSessionStore(db)
    return store, {
        "sessions": store.ping,
        "database": revision_check("web", db.revision, db.driver.Error),
    }


class NoCookieSession(SessionInterface):
    """Flask's own signed-cookie session is not used: the browser's session is the opaque
    cookie of :mod:`web_service.sessions`. This one opens nothing and writes no cookie
    (``flask.session`` is a null session: writing to it is an error, not a silent cookie)."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


def create_app(settings: WebSettings | None = None) -> Flask:
    settings = settings or WebSettings()
    settings.check()
    if not settings.is_production:
        settings.ensure_secret()
    compile_catalogs()
    # The default locale's data now rather than on the first page (the other locales are
    # loaded when a visitor asks for them).
    formatting.preload((settings.default_locale,))
    app = Flask(__name__)
    app.url_map.converters["int"] = AsciiIntegerConverter
    app.session_interface = NoCookieSession()
    secret = settings.secret()
    app.config.update(
        SECRET_KEY=secret,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        DEBUG=settings.debug,
        ESTANTE_SETTINGS=settings,
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_DEFAULT_TIMEZONE="UTC",
    )
    app.jinja_env.autoescape = True
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    configure_logging(settings.log_level)
    init_request_log(app, settings.service_name)
    init_metrics(app, settings.service_name)
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        # Flask's documented way to add WSGI middleware, though mypy sees wsgi_app as a method.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)  # type: ignore[method-assign]

    @app.before_request
    def remember_client_address() -> None:
        g.client_address = request.remote_addr
        if request.endpoint == "imports.upload":  # before anything reads the form
            request.max_content_length = settings.max_upload_bytes + 64 * 1024

    Babel(
        app,
        locale_selector=lambda: choose_locale(
            request.cookies.get(LOCALE_COOKIE),
            request.headers.get("Accept-Language"),
            settings.default_locale,
        ),
    )
    auth = ApiClient("auth", settings.auth_url, settings.api_timeout)
    books = ApiClient("books", settings.books_url, settings.api_timeout)
    app.extensions["estante.web.auth"] = auth
    app.extensions["estante.web.books"] = books
    init_catalog_freshness(app, books, settings.catalog_version_poll)
    app.extensions["estante.web.catalog_pages"] = CatalogPages()
    app.extensions["estante.web.catalog_forms"] = RenderedForms()
    # Longer than any read it waits for can take (the client's timeout, twice: one read queued
    # behind another), so that only a hung read ever ends a wait.
    app.extensions["estante.web.shared_reads"] = SharedReads(2 * settings.api_timeout + 5)
    store, checks = make_store(app, settings)
    manager = SessionManager(
        store,
        CookieSigner(secret),
        auth,
        lifetime=settings.session_lifetime,
        cookie_secure=settings.cookie_secure,
    )
    init_sessions(app, manager)
    init_csrf(app, secret)
    init_security_headers(app)
    init_health(app, settings.service_name, checks)
    init_views(app, __version__)
    return app
