"""import chunks lz4: an upload's pieces compressed with LZ4 on PostgreSQL

Each stored piece of an upload (a mebibyte) is compressed by PostgreSQL as it is written.
With its default method, pglz, a 183 MiB Goodreads export took 3.4 s to upload, against 1.3
with LZ4, which compresses a catalog's text nearly as small (14 against 13 MiB for 36 MiB of
it) five times faster (docs/performance.md). Only on a server built with LZ4 (Debian's and the official
images are); elsewhere the column keeps pglz. The pieces already stored stay as they are.

Revision ID: books_0009
Revises: books_0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "books_0009"
down_revision = "books_0008"
branch_labels = None
depends_on = None


def _lz4_available(connection: sa.Connection) -> bool:
    methods = connection.scalar(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    )
    return "lz4" in (methods or [])


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql" and _lz4_available(connection):
        op.execute("ALTER TABLE import_chunks ALTER COLUMN data SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE import_chunks ALTER COLUMN data SET COMPRESSION DEFAULT")
