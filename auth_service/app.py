"""Application factory of the Auth Service."""

from __future__ import annotations

from flask_openapi3 import OpenAPI

from auth_service import __version__
from auth_service.config import AuthSettings
from auth_service.keys import KeyRing
from auth_service.passwords import Hasher
from auth_service.routes import api, legacy_api
from auth_service.tokens import init_tokens
from common.app_base import create_base_app
from common.db import init_db
from common.json_body import require_json_body


def prepare(settings: AuthSettings) -> None:
    """One-time work before any worker starts: check config, create keys, migrate."""
    from common import migrations

    settings.check()
    settings.prepare_data_dir()
    if settings.is_production:
        KeyRing.load(settings.signing_keys_dir)
    else:
        KeyRing.ensure(settings.signing_keys_dir)
    if settings.auto_migrate:
        migrations.upgrade("auth", settings.database_url)


def create_app(settings: AuthSettings | None = None) -> OpenAPI:
    settings = settings or AuthSettings()
    settings.check()
    app = create_base_app(__name__, settings, title="Estante Auth Service", version=__version__)
    init_db(app, settings.database_url)
    app.extensions["estante.hasher"] = Hasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    init_tokens(
        app,
        KeyRing.load(settings.signing_keys_dir),
        issuer=settings.issuer,
        audience=settings.audience,
        ttl=settings.access_token_ttl,
    )
    app.before_request(require_json_body)
    app.register_api(api)
    app.register_api(legacy_api)
    return app
