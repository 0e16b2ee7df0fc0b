"""per-action state: each action's own attempts, status-poll failures, replays, start, next attempt, deadline, error

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 19:55:00.000000

Existing actions keep their rows. A run recorded as going gets its recorded creation time as its start, so its
deadline counts from when it was really started; an action left retrying keeps the error its detail recorded.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("poll_failures", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("replays", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
    actions = sa.table(
        "actions",
        sa.column("status", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("started_at", sa.DateTime(timezone=True)),
        sa.column("attempts", sa.Integer),
    )
    op.execute(
        actions.update()
        .where(actions.c.status.in_(["running", "succeeded", "failed"]))
        .values(started_at=actions.c.created_at, attempts=1)
    )


def downgrade() -> None:
    with op.batch_alter_table("actions", schema=None) as batch_op:
        for column in (
            "last_error",
            "deadline_at",
            "next_attempt_at",
            "started_at",
            "replays",
            "poll_failures",
            "attempts",
        ):
            batch_op.drop_column(column)
