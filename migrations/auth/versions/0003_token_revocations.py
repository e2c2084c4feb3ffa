"""token revocations the Books Service fetches; a per-user 'tokens not before'; user ids never
reused on SQLite

Revision ID: auth_0003
Revises: auth_0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "auth_0003"
down_revision = "auth_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # On SQLite the table is rebuilt with AUTOINCREMENT, so a deleted user's id is never given
    # to the next one (its unexpired tokens would name them). The rows are copied as they are.
    #
    # What this cannot do: the sequence starts at the highest id left, so the ids of the newest
    # users deleted *before* this upgrade are given out once more (SQLite without AUTOINCREMENT
    # did that too). No table remembers them to seed it higher: their sessions went with them
    # (ON DELETE CASCADE, foreign keys on since auth_0001) and token_revocations starts here.
    # What covers it: the Auth Service refuses an access token whose session (``sid``) is not
    # one of its user's (revocations.live_user), and every token such a deleted user held names
    # a session deleted with them. The Books Service has no users to confuse: the token acts as
    # the deleted user there, as it did before this upgrade, until it expires.
    with op.batch_alter_table(
        "users",
        recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch:
        batch.add_column(sa.Column("tokens_not_before", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "token_revocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_revocations")),
    )
    op.create_index(op.f("ix_token_revocations_revoked_at"), "token_revocations", ["revoked_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_token_revocations_revoked_at"), table_name="token_revocations")
    op.drop_table("token_revocations")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("tokens_not_before")
