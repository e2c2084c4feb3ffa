"""usernames' confusable skeletons, so a name that reads like another one is refused

Revision ID: auth_0006
Revises: auth_0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from auth_service.lookalikes import skeleton_key

revision = "auth_0006"
down_revision = "auth_0005"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    # Nullable: replicas of the previous release, still running during a rolling upgrade,
    # register users without one (the confusable-users command computes skeletons afresh
    # and so still finds them). Not unique: existing accounts may read alike; they are
    # reported, never changed.
    op.add_column("users", sa.Column("username_skeleton", sa.String(length=512), nullable=True))
    op.create_index(op.f("ix_users_username_skeleton"), "users", ["username_skeleton"])
    # Every existing name gets the skeleton today's code computes: the one registrations are
    # compared with from now on.
    users = sa.table(
        "users",
        sa.column("id", sa.Integer),
        sa.column("username", sa.String),
        sa.column("username_skeleton", sa.String),
    )
    connection = op.get_bind()
    update = (
        users.update()
        .where(users.c.id == sa.bindparam("user_id"))
        .values(username_skeleton=sa.bindparam("skeleton"))
    )
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(users.c.id, users.c.username)
            .where(users.c.id > last_id)
            .order_by(users.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        connection.execute(
            update, [{"user_id": id_, "skeleton": skeleton_key(name)} for id_, name in rows]
        )
        last_id = rows[-1][0]


def downgrade() -> None:
    op.drop_index(op.f("ix_users_username_skeleton"), table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("username_skeleton")
