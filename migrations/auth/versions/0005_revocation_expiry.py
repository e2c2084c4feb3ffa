"""revocations listed until the tokens they name expire, not for the longest lifetime allowed

Revision ID: auth_0005
Revises: auth_0004
Create Date: 2026-12-01
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "auth_0005"
down_revision = "auth_0004"
branch_labels = None
depends_on = None

# Frozen here, as the settings were when this was written: the longest ACCESS_TOKEN_TTL_SECONDS
# allowed, and how long beyond it a revocation was listed (the largest leeway and a margin).
LONGEST_ACCESS_TOKEN_TTL = timedelta(seconds=86400)
GRACE = timedelta(seconds=60 + 120)
# How long replicas of the release before this one may go on signing tokens, whose expiry they
# do not record, during a rolling upgrade (docs/operations.md: finish it within a day).
ROLLOUT = timedelta(days=1)


def upgrade() -> None:
    # No token issued before this upgrade expires later than this: the one bound known for
    # them, so every session starts with it. Tokens issued from now on record their own expiry. Only nullable columns are added: replicas of the previous release, still
    # running during a rolling upgrade, write revocations without an expiry, which are then
    # listed for the longest lifetime, as they always were (revocations.py).
    now = datetime.now(UTC)
    tokens_expire_by = now + LONGEST_ACCESS_TOKEN_TTL
    op.add_column("sessions", sa.Column("access_tokens_expire_at", sa.DateTime(timezone=True)))
    sessions = sa.table("sessions", sa.column("access_tokens_expire_at", sa.DateTime(timezone=True)))
    # A typed bind parameter, so each dialect stores the time as its DateTime column does.
    op.execute(sessions.update().values(access_tokens_expire_at=tokens_expire_by))
    op.add_column("token_revocations", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.create_index(op.f("ix_token_revocations_expires_at"), "token_revocations", ["expires_at"])
    # Where the previous release has issued tokens, its replicas may sign more while this one
    # rolls out, in sessions whose expiry this release recorded: until none of those can be
    # unexpired, every revocation stays listed at least that long (revocations.py).
    if op.get_bind().execute(sa.text("SELECT 1 FROM users LIMIT 1")).first() is not None:
        settings = sa.table("settings", sa.column("key"), sa.column("value"))
        legacy_until = now + ROLLOUT + LONGEST_ACCESS_TOKEN_TTL + GRACE
        op.execute(
            settings.insert().values(
                key="legacy_tokens_unexpired_until", value=legacy_until.isoformat()
            )
        )


def downgrade() -> None:
    op.execute("DELETE FROM settings WHERE key = 'legacy_tokens_unexpired_until'")
    op.drop_index(op.f("ix_token_revocations_expires_at"), table_name="token_revocations")
    with op.batch_alter_table("token_revocations") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("access_tokens_expire_at")
