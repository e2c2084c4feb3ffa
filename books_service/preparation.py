"""The Books Service's one-time preparation before its workers start (in a child of its main
process, see :mod:`common.preparation`): no more imported than it takes."""

from __future__ import annotations

from books_service.config import BooksSettings
from common import migrate_on_start


def prepare(settings: BooksSettings) -> None:
    """Check the configuration, make the data directory, migrate."""
    settings.check()
    settings.prepare_data_dir()
    if settings.auto_migrate:
        migrate_on_start.migrate("books", settings.database_url)
