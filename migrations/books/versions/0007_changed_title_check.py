"""changed title check: PostgreSQL's check of a changed title and authors, after the lock

A change of a book's title or authors (without an ISBN) is kept from duplicating another live
book by the same lock and look as a new book's (``estante_title_free``, books_0006), with the
book itself left out of the look. ``estante_title_free(key, lock, exclude)`` takes the lock,
then looks for a live book with the key other than ``exclude``, with a snapshot taken after the
lock is granted; called from inside a change's UPDATE, that UPDATE alone, in autocommit, is the
whole change. SQLite's writers are serialised already: nothing there.

Revision ID: books_0007
Revises: books_0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "books_0007"
down_revision = "books_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION estante_title_free(key varchar, lock bigint, exclude bigint)
        RETURNS boolean
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(lock);
            RETURN NOT EXISTS (
                SELECT FROM books
                WHERE duplicate_key = key AND deleted_at IS NULL AND id <> exclude
            );
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION estante_title_free(varchar, bigint, bigint)")
