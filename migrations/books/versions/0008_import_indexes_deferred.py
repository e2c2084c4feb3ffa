"""import indexes deferred: which import jobs left the listing indexes out while they ran

A large import leaves the indexes of the title, author and publisher orders and of the authors'
names out while it writes and builds them once at its end
(``books_service.transfer.listing_indexes``). ``import_jobs.indexes_deferred`` says which jobs
did: while one of them is unfinished, nobody builds those indexes again.

Revision ID: books_0008
Revises: books_0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "books_0008"
down_revision = "books_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.add_column(
            sa.Column("indexes_deferred", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("indexes_deferred")
