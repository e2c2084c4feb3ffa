"""title check: PostgreSQL's check of a new title and authors, after the title's lock

A book without an ISBN is kept from duplicating a live book by its title and authors (its
duplicate key): two writers adding the same new title at once must not both find it free. On
PostgreSQL the writer takes an advisory lock on the key first, and then looks; a statement
reads the catalog as of its start, so until now the lock was a statement of its own before the
book's INSERT, and that needed a transaction around both (BEGIN, the lock, the INSERT,
COMMIT: issue 12's round trips and the driver's work for each).

``estante_title_free(key, lock)`` takes the lock and then looks, in one call from inside the
INSERT: a VOLATILE PL/pgSQL function runs each of its queries with a snapshot taken when that
query starts (READ COMMITTED), so the look sees every book committed before the lock was
granted. The lock is the transaction's (released at its commit or rollback), so the INSERT
alone, in autocommit, is the whole write. SQLite's writers are serialised already: nothing
there.

Revision ID: books_0006
Revises: books_0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "books_0006"
down_revision = "books_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION estante_title_free(key varchar, lock bigint) RETURNS boolean
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(lock);
            RETURN NOT EXISTS (
                SELECT FROM books WHERE duplicate_key = key AND deleted_at IS NULL
            );
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION estante_title_free(varchar, bigint)")
