"""The web service's one-time preparation before its workers start (in a child of its main
process, see :mod:`common.preparation`): no more imported than it takes."""

from __future__ import annotations

from common import migrate_on_start
from web_service.config import WebSettings
from web_service.i18n import compile_catalogs


def prepare(settings: WebSettings) -> None:
    """Check the configuration, make the secret, migrate the sessions table, compile the
    translations."""
    settings.check()
    settings.prepare_data_dir()
    if not settings.is_production:
        settings.ensure_secret()
    settings.secret()  # readable, long enough: or a clear ConfigError now
    if settings.auto_migrate and not settings.redis_url:
        migrate_on_start.migrate("web", settings.database_url)
    compile_catalogs()
