"""quiet hours: the times a borrower asked, from the portal, not to be contacted (on
some weekdays, from one minute of their local day to another); the contact gate adds
them to the rules of where they live.

Revision ID: 0014_borrowercontact
Revises: 0014_holds2
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_borrowercontact"
down_revision = "0014_holds2"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "quiet_hours",
        sa.Column("id", ID, nullable=False),
        sa.Column("borrower_id", ID, nullable=False),
        sa.Column("days", sa.SmallInteger(), nullable=False),
        sa.Column("start_minute", sa.SmallInteger(), nullable=False),
        sa.Column("end_minute", sa.SmallInteger(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrowers.id"], name="fk_quiet_hours_borrower_id_borrowers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_quiet_hours"),
        sa.CheckConstraint("days BETWEEN 1 AND 127", name="days"),
        sa.CheckConstraint(
            "start_minute >= 0 AND start_minute < end_minute AND end_minute <= 1440",
            name="minutes",
        ),
    )
    op.create_index("ix_quiet_hours_borrower_id", "quiet_hours", ["borrower_id"])


def downgrade() -> None:
    op.drop_index("ix_quiet_hours_borrower_id", table_name="quiet_hours")
    op.drop_table("quiet_hours")
