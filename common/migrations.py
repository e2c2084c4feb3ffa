"""Apply a service's Alembic migrations programmatically (on start, and from tests).

Each service has its own history under ``migrations/<service>/`` and its own version table, so
the two can even share one PostgreSQL database without stepping on each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.db import create_db_engine, normalise_url
from common.revisions import MIGRATIONS_DIR, is_at_head, version_table

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["MIGRATIONS_DIR", "version_table"]  # kept here too: the scripts and tests use them


def alembic_config(service: str, database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR / service))
    # ConfigParser would read "%" in a password as interpolation.
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    config.attributes["service"] = service
    return config


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    """Migrate to ``revision`` in this process. A database already at the head is left as it
    is without importing Alembic at all. A service's start runs this in the child process
    that prepares it (:mod:`common.server`), so no long-lived process ever loads Alembic."""
    if revision == "head" and is_at_head(service, database_url):
        return
    from alembic import command

    command.upgrade(alembic_config(service, database_url), revision)


def downgrade(service: str, database_url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(service, database_url), revision)


def current_revision(service: str, database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": version_table(service)}
            )
            return context.get_current_revision()
    finally:
        engine.dispose()


def head_revision(service: str) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(service, "sqlite://")).get_current_head()
