"""rate windows count the action keys they let start, so a start asked for again is counted once

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 22:50:00.000000

A window's count becomes the list of keys counted in it. A window open at the upgrade keeps its count as that many
placeholder keys, so it lets no more starts through than before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_windows = sa.table(
    "rate_windows",
    sa.column("name", sa.String),
    sa.column("count", sa.Integer),
    sa.column("counted_keys", sa.JSON),
)


def upgrade() -> None:
    with op.batch_alter_table("rate_windows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("counted_keys", sa.JSON(), nullable=True))
    conn = op.get_bind()
    for name, count in conn.execute(sa.select(_windows.c.name, _windows.c.count)).all():
        placeholders = [f"counted before revision 0005 #{n}" for n in range(count)]
        conn.execute(_windows.update().where(_windows.c.name == name).values(counted_keys=placeholders))
    with op.batch_alter_table("rate_windows", schema=None) as batch_op:
        batch_op.alter_column("counted_keys", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("count")


def downgrade() -> None:
    with op.batch_alter_table("rate_windows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("count", sa.Integer(), server_default="0", nullable=False))
    conn = op.get_bind()
    for name, keys in conn.execute(sa.select(_windows.c.name, _windows.c.counted_keys)).all():
        conn.execute(_windows.update().where(_windows.c.name == name).values(count=len(keys or [])))
    with op.batch_alter_table("rate_windows", schema=None) as batch_op:
        batch_op.drop_column("counted_keys")
