"""known clients and shared rate-limit counters; throttle keys become keyed hashes

Revision ID: auth_0004
Revises: auth_0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "auth_0004"
down_revision = "auth_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "known_clients",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_known_clients")),
    )
    op.create_index(op.f("ix_known_clients_last_seen_at"), "known_clients", ["last_seen_at"])
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_counters")),
    )
    op.create_index(
        op.f("ix_rate_limit_counters_expires_at"), "rate_limit_counters", ["expires_at"]
    )
    # The counters were keyed by bare SHA-256 hashes, which the new keyed hashes never match:
    # they could only linger. They live minutes anyway.
    op.execute("DELETE FROM login_throttle")


def downgrade() -> None:
    op.execute("DELETE FROM login_throttle")
    op.drop_index(op.f("ix_rate_limit_counters_expires_at"), table_name="rate_limit_counters")
    op.drop_table("rate_limit_counters")
    op.drop_index(op.f("ix_known_clients_last_seen_at"), table_name="known_clients")
    op.drop_table("known_clients")
