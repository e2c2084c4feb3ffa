"""Every start migrates a service's database, and nearly always finds it at the head: that is
told through the DB-API (one statement on the version table, the head read from the migration
scripts), so a start that has nothing to migrate loads neither SQLAlchemy nor Alembic."""

from __future__ import annotations

from common import revisions
from common.dbapi import DbApiDatabase


def at_head(service: str, database_url: str) -> bool:
    db = DbApiDatabase(database_url)
    try:
        return db.revision(revisions.version_table(service)) == revisions.head_revision(service)
    except db.driver.Error:  # no version table yet: a new database
        return False
    finally:
        db.dispose()


def migrate(service: str, database_url: str) -> None:
    """The database at the newest migration; Alembic runs only when one is due."""
    if at_head(service, database_url):
        return
    from common import migrations

    migrations.upgrade(service, database_url)
