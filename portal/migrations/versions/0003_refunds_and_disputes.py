"""refunds and disputes: what of a payment was taken back

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MONEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch: a batch rebuilds the table on SQLite and would drop
    # the expression index that keeps one open payment per case.
    op.add_column("payments", sa.Column("refunded", MONEY, nullable=False, server_default="0"))
    op.add_column("payments", sa.Column("disputed", MONEY, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch_op:
        batch_op.drop_column("disputed")
        batch_op.drop_column("refunded")
