"""the agents' cells (``portal.reporting.agents``): ``book_cells`` (the cases not resolved
at each month-end, per slice of that month-end, the owner among them), ``work_cells``
(the cases each member worked in each month, per slice of the month) and ``offer_cells``
(the offers made in each month, per slice, maker, authority and how they stand). Empty
here: the month-end step counts them (``portal.reporting.monthly``).

Revision ID: 0022_agent_cells
Revises: 0021_liquidation
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0022_agent_cells"
down_revision = "0021_liquidation"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAGES = ("current", "early", "mid", "late")
OFFER_STATUSES = ("ready", "needs_approval", "declined", "withdrawn", "accepted", "expired")


def _slices() -> list[sa.Column[Any]]:
    """The slice columns every table of counts has (``SliceCounts``)."""
    return [
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("market", sa.String(length=5), nullable=False),
        sa.Column(
            "stage",
            # The naming convention makes the CHECK ck_<table>_stage.
            sa.Enum(*STAGES, name="stage", native_enum=False, create_constraint=True, length=16),
            nullable=False,
        ),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("arm", sa.String(length=97), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "book_cells",
        sa.Column("id", ID, nullable=False),
        sa.Column("month_end", sa.Date(), nullable=False),
        *_slices(),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_book_cells"),
    )
    op.create_index("ix_book_cells_month_end", "book_cells", ["month_end"])
    op.create_table(
        "work_cells",
        sa.Column("id", ID, nullable=False),
        sa.Column("month_end", sa.Date(), nullable=False),
        *_slices(),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_work_cells"),
    )
    op.create_index("ix_work_cells_month_end", "work_cells", ["month_end"])
    op.create_table(
        "offer_cells",
        sa.Column("id", ID, nullable=False),
        sa.Column("month_end", sa.Date(), nullable=False),
        *_slices(),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("authority", sa.String(length=16), nullable=False),
        sa.Column(
            "status",
            # ck_offer_cells_status.
            sa.Enum(
                *OFFER_STATUSES,
                name="status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("offers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_offer_cells"),
    )
    op.create_index("ix_offer_cells_month_end", "offer_cells", ["month_end"])


def downgrade() -> None:
    for table in ("offer_cells", "work_cells", "book_cells"):
        op.drop_index(f"ix_{table}_month_end", table_name=table)
        op.drop_table(table)
