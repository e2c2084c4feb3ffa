"""What runs before any worker serves: the settings' checks, the data directory and the
migrations (:func:`prepare`). Apart from the app so that the child process that prepares a
start (:mod:`common.server`) does not import the app's routes, models and OpenAPI schemas only
to throw them away: half a second of every start."""

from __future__ import annotations

from books_service.config import BooksSettings
from common import migrations


def prepare(settings: BooksSettings) -> None:
    """One-time work before any worker starts: check config, migrate."""
    settings.check()
    settings.prepare_data_dir()
    if settings.auto_migrate:
        migrations.upgrade("books", settings.database_url)
