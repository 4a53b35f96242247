"""staff TOTP: an optional one-time-code secret per staff account, and the time step of
the last code accepted (so a code is never accepted twice)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("staff_members", sa.Column("totp_secret", sa.String(length=64), nullable=True))
    op.add_column("staff_members", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_members") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_secret")
