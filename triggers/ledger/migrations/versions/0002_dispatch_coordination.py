"""dispatch coordination: replay count, debounce batches, concurrency slots, rate windows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replays", sa.Integer(), server_default="0", nullable=False))

    op.create_table(
        "debounce_batches",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=256), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("open_key", sa.String(length=800), nullable=True),
        sa.Column("leader_event_id", sa.String(length=256), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_key"),
    )
    op.create_table(
        "debounce_batch_members",
        sa.Column("rule", sa.String(length=256), nullable=False),
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["debounce_batches.id"],
        ),
        sa.PrimaryKeyConstraint("rule", "event_id"),
    )
    with op.batch_alter_table("debounce_batch_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_debounce_batch_members_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "concurrency_slots",
        sa.Column("slot", sa.String(length=800), nullable=False),
        sa.Column("holder_key", sa.String(length=256), nullable=False),
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("slot"),
    )
    op.create_table(
        "rate_windows",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("rate_windows")
    op.drop_table("concurrency_slots")
    with op.batch_alter_table("debounce_batch_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_debounce_batch_members_batch_id"))

    op.drop_table("debounce_batch_members")
    op.drop_table("debounce_batches")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("replays")
