"""Alembic environment of the Books Service."""

from books_service.models import BooksBase
from migrations.env_common import run

run(BooksBase.metadata)
