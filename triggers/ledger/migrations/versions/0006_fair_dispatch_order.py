"""fair dispatch order: each event's round in the round-robin over lanes, each lane's next round, the round served

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 23:00:00.000000

Events stored before the upgrade take round 0, so they are claimed first, in the order they fell due, as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fair_round", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.create_index("ix_events_fair", ["state", "fair_round", "next_attempt_at"], unique=False)
    op.create_table(
        "dispatch_lanes",
        sa.Column("lane", sa.String(length=32), nullable=False),
        sa.Column("next_round", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("lane"),
    )
    op.create_table(
        "dispatch_progress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("served_round", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("dispatch_progress")
    op.drop_table("dispatch_lanes")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_fair")
        batch_op.drop_column("fair_round")
