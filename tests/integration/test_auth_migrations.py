"""Auth database migrations: they match the models, and upgrading keeps every account."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import DateTime, bindparam, select, text

from auth_service import revocations
from auth_service.config import MAX_ACCESS_TOKEN_TTL
from auth_service.models import AuthBase, LoginSession, TokenRevocation
from books_service.models import BooksBase
from common import migrations
from common.clock import as_utc, utcnow
from common.db import Database, create_db_engine


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


def test_a_fresh_database_lists_revocations_only_while_their_tokens_live(
    database_url: str,
) -> None:
    # No earlier release ever issued a token here: no rollout to wait for.
    migrations.upgrade("auth", database_url)
    db = Database(database_url)
    try:
        with db.transaction() as session:
            revocations.revoke_session_tokens(session, [("n" * 32, 2, utcnow())], "test")
        with db.read() as session:
            entry = session.scalars(select(TokenRevocation)).one()
    finally:
        db.dispose()
    assert as_utc(entry.expires_at) - utcnow() <= revocations.GRACE


def test_revocations_without_an_expiry_stay_listed_for_the_longest_lifetime(
    database_url: str,
) -> None:
    # Before auth_0005 no expiry was recorded: a revocation was listed for the longest
    # lifetime a token could have had. The upgrade must not shorten that for what it finds,
    # nor for what a replica of the previous release writes during a rolling upgrade.
    migrations.upgrade("auth", database_url, "auth_0004")
    engine = create_db_engine(database_url)
    at = bindparam("at", type_=DateTime(timezone=True))
    window = revocations.UNKNOWN_EXPIRY_WINDOW
    recent, old = "r" * 32, "o" * 32
    insert_revocation = text(
        "INSERT INTO token_revocations (user_id, session_id, revoked_at, reason) "
        "VALUES (1, :sid, :at, 'logout')"
    ).bindparams(at)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, username, username_key, password_hash, role, "
                    "created_at, updated_at) VALUES (1, 'Ana', 'ana', 'h', 'librarian', :at, :at)"
                ).bindparams(at),
                {"at": utcnow()},
            )
            connection.execute(
                text(
                    "INSERT INTO sessions (id, user_id, created_at, expires_at) "
                    "VALUES (:sid, 1, :at, :at)"
                ).bindparams(at),
                {"sid": recent, "at": utcnow()},
            )
            connection.execute(
                insert_revocation, {"sid": recent, "at": utcnow() - window + timedelta(minutes=5)}
            )
            connection.execute(
                insert_revocation, {"sid": old, "at": utcnow() - window - timedelta(minutes=5)}
            )
        upgraded = utcnow()
        migrations.upgrade("auth", database_url)
        with engine.begin() as connection:  # a replica of the previous release, still running
            connection.execute(insert_revocation, {"sid": "p" * 32, "at": utcnow()})
        db = Database(database_url)
        try:
            with db.read() as session:
                login = session.get_one(LoginSession, recent)
                listed = revocations.published(session).sessions
            with db.transaction() as session:  # the next revocation prunes what is not listed
                revocations.revoke_session_tokens(session, [("n" * 32, 2, utcnow())], "test")
            with db.read() as session:
                kept = {
                    entry.session_id: entry.expires_at
                    for entry in session.scalars(select(TokenRevocation))
                }
        finally:
            db.dispose()
    finally:
        engine.dispose()
    # Every token issued before the upgrade is covered by what its session records.
    tokens_expire_at = as_utc(login.access_tokens_expire_at)
    assert tokens_expire_at - upgraded >= timedelta(seconds=MAX_ACCESS_TOKEN_TTL)
    assert listed == ["p" * 32, recent]
    assert set(kept) == {"n" * 32, "p" * 32, recent}
    # While replicas of the previous release may still sign tokens whose expiry nobody records
    # (a day of rollout), and until those expire, every revocation is listed: this one names
    # tokens that have just expired, yet stays two days.
    legacy_until = as_utc(kept["n" * 32])
    assert legacy_until - upgraded >= timedelta(days=2) + revocations.GRACE
    assert legacy_until - upgraded < timedelta(days=2, minutes=5)
    migrations.downgrade("auth", database_url, "auth_0004")
    assert migrations.current_revision("auth", database_url) == "auth_0004"


def test_upgrading_gives_every_account_its_skeleton_and_changes_no_name(
    database_url: str,
) -> None:
    # auth_0006 stores each name's confusable skeleton; names that read alike share one, and
    # are kept as they are (the confusable-users command reports them).
    migrations.upgrade("auth", database_url, "auth_0005")
    engine = create_db_engine(database_url)
    names = ["ana", "\u0430na", "Iarry", "larry", "joão"]  # the second with a Cyrillic a
    try:
        with engine.begin() as connection:
            for id_, name in enumerate(names, start=1):
                connection.execute(
                    text(
                        "INSERT INTO users (id, username, username_key, password_hash, role, "
                        "created_at, updated_at) VALUES (:id, :u, :k, 'h', 'reader', :t, :t)"
                    ),
                    {"id": id_, "u": name, "k": name.casefold(), "t": "2026-01-02 03:04:05"},
                )
        migrations.upgrade("auth", database_url)
        with engine.connect() as connection:
            after = connection.execute(
                text("SELECT username, username_skeleton FROM users ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert [row[0] for row in after] == names
    assert [row[1] for row in after] == ["ana", "ana", "larry", "larry", "joa\u0303o"]
    migrations.downgrade("auth", database_url, "auth_0005")
    assert migrations.current_revision("auth", database_url) == "auth_0005"


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
