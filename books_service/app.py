"""Application factory of the Books Service."""

from __future__ import annotations

from flask_openapi3 import OpenAPI

from books_service import __version__
from books_service.auth import init_auth
from books_service.cached_reads import CachedReads
from books_service.config import BooksSettings
from books_service.front_writes import FrontWrites
from books_service.jwks import JwksCache
from books_service.page_cache import MAX_BOOKS, PageCache, VersionReader
from books_service.preparation import prepare
from books_service.revocations import RevocationCache
from books_service.routes import api
from books_service.transfer.routes import transfer_api
from books_service.transfer.runner import Tuning, start_worker
from common.app_base import create_base_app
from common.db import init_db
from common.front_route import install_in_front
from common.health import database_check, init_health

__all__ = ["create_app", "prepare"]  # prepare: tests build the app as a start does


def create_app(settings: BooksSettings | None = None) -> OpenAPI:
    settings = settings or BooksSettings()
    settings.check()
    app = create_base_app(__name__, settings, title="Estante Books Service", version=__version__)
    db = init_db(app, settings.database_url, settings.threads)
    app.extensions["estante.page_cache"] = PageCache()
    app.extensions["estante.book_cache"] = PageCache(MAX_BOOKS)
    app.extensions["estante.catalog_version"] = VersionReader(db)
    jwks = JwksCache(
        settings.jwks_url,
        timeout=settings.jwks_timeout_seconds,
        cooldown=settings.jwks_refetch_cooldown_seconds,
        max_age=settings.jwks_max_age_seconds,
        cache_file=settings.jwks_cache_path,
    )
    revoked = RevocationCache(
        settings.revocations_source,
        max_age=settings.revocations_max_age_seconds,
        timeout=settings.jwks_timeout_seconds,
        cache_file=settings.revocations_cache_path,
    )
    init_auth(app, jwks, revoked, issuer=settings.issuer, audience=settings.audience)
    init_health(
        app,
        settings.service_name,
        {
            "database": database_check("books"),
            "jwks": lambda: (
                None
                if jwks.ensure_keys()
                else ("no public key of the auth service is known and it cannot be reached")
            ),
        },
    )
    app.register_api(transfer_api)  # before the catalog: /books/export is not a book id
    app.register_api(api)
    if settings.import_worker:
        # In each Granian worker (the factory runs after the fork): imports run in the
        # background of every process, and any of them can take a job over.
        start_worker(
            db,
            Tuning(
                batch_rows=settings.import_batch_rows,
                lease_seconds=settings.import_lease_seconds,
                poll_seconds=settings.import_poll_seconds,
                pause_seconds=settings.import_pause_seconds,
                prepare_in_child=settings.import_prepare_process,
                sqlite_cache_mib=settings.import_sqlite_cache_mib,
                defer_indexes_rows=settings.import_defer_indexes_rows,
            ),
        )
    # Inside the proxy headers' fix, if any: the routes see the path as Flask does.
    install_in_front(app, lambda next_app: FrontWrites(app, settings.service_name, next_app))
    install_in_front(app, lambda next_app: CachedReads(app, settings.service_name, next_app))
    return app
