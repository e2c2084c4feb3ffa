"""Auth database migrations: they match the models, and upgrading keeps every account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from auth_service.models import AuthBase
from books_service.models import BooksBase
from common import migrations
from common.db import create_db_engine


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
    else:
        yield request.getfixturevalue("postgres").create_database("migrate")


# Full-text search is built per database by the migrations (an FTS5 table on SQLite, a stored
# search vector with its GIN index on PostgreSQL); the models describe what both have in common.
SEARCH_OBJECTS = {"ix_books_search", "search_vector"}


def include(name: str | None, type_: str, metadata) -> bool:
    if type_ == "table":
        return name in metadata.tables
    return name not in SEARCH_OBJECTS


@pytest.mark.parametrize(
    ("service", "metadata"), [("auth", AuthBase.metadata), ("books", BooksBase.metadata)]
)
def test_migrations_at_head_match_the_models(database_url: str, service: str, metadata) -> None:
    migrations.upgrade(service, database_url)
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "version_table": migrations.version_table(service),
                    "include_name": lambda name, type_, _parent: include(name, type_, metadata),
                },
            )
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []
    assert migrations.current_revision(service, database_url) == migrations.head_revision(service)


def test_upgrading_the_auth_database_keeps_every_account(database_url: str) -> None:
    migrations.upgrade("auth", database_url, "auth_0001")
    engine = create_db_engine(database_url)
    rows = [
        (1, "Ana", "ana", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", "librarian"),
        (2, "joão.silva", "joão.silva", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaDI", "admin"),
    ]
    try:
        with engine.begin() as connection:
            for row in rows:
                connection.execute(
                    text(
                        "INSERT INTO users (id, username, username_key, password_hash, role, "
                        "created_at, updated_at) VALUES (:id, :u, :k, :h, :r, :t, :t)"
                    ),
                    {
                        "id": row[0],
                        "u": row[1],
                        "k": row[2],
                        "h": row[3],
                        "r": row[4],
                        "t": "2026-01-02 03:04:05",
                    },
                )
        migrations.upgrade("auth", database_url)
        with engine.connect() as connection:
            after = connection.execute(
                text(
                    "SELECT id, username, username_key, password_hash, role, disabled_at "
                    "FROM users ORDER BY id"
                )
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r[:5]) for r in after] == rows
    assert all(r[5] is None for r in after)  # nobody is disabled by the upgrade
    # And back down, for operators who must roll back.
    migrations.downgrade("auth", database_url, "auth_0001")
    assert migrations.current_revision("auth", database_url) == "auth_0001"


def test_upgrading_the_books_database_keeps_every_book(database_url: str) -> None:
    migrations.upgrade("books", database_url, "books_0001")
    engine = create_db_engine(database_url)
    rows = [
        (1, "Dom Casmurro", "Machado de Assis", "ana"),
        (2, "O Pequeno Príncipe", "Antoine de Saint-Exupéry", "bia"),
        (7, "Neil & Terry", "Neil Gaiman & Terry Pratchett", "caio"),
    ]
    try:
        with engine.begin() as connection:
            for book_id, title, author, by in rows:
                connection.execute(
                    text(
                        "INSERT INTO books (id, title, author, created_at, updated_at, "
                        "created_by) VALUES (:id, :t, :a, :c, :c, :b)"
                    ),
                    {"id": book_id, "t": title, "a": author, "c": "2026-01-02 03:04:05", "b": by},
                )
        migrations.upgrade("books", database_url)
        with engine.connect() as connection:
            after = connection.execute(
                text(
                    "SELECT id, title, author, created_by, version, copies, title_key, "
                    "search_text, deleted_at FROM books ORDER BY id"
                )
            ).all()
            history = connection.execute(
                text(
                    "SELECT book_id, version, action, changed_by FROM book_history ORDER BY book_id"
                )
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r[:4]) for r in after] == rows
    assert all(r.version == 1 and r.copies == 1 and r.deleted_at is None for r in after)
    assert after[1].title_key == "o pequeno principe"
    assert "exupery" in after[1].search_text
    assert [tuple(h) for h in history] == [(i, 1, "created", by) for i, _, _, by in rows]
    migrations.downgrade("books", database_url, "books_0001")
    assert migrations.current_revision("books", database_url) == "books_0001"
