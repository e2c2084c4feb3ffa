"""catalog version: book_counts counts changes as well as live books

Every transaction that changes the catalog already updates one of ``book_counts``' slots (the
live count). It now also adds one to that slot's ``changes``: the sum over the slots is then a
version of the whole catalog that every worker and replica reads alike, which grows with each
committed change and never repeats. Pages of ``GET /books`` are cached, and answered 304, under
it. Existing rows start at 0, which every cache (they live in the workers) meets for the first
time after the upgrade.

Revision ID: books_0005
Revises: books_0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "books_0005"
down_revision = "books_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "book_counts", sa.Column("changes", sa.BigInteger(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("book_counts") as batch:
        batch.drop_column("changes")
