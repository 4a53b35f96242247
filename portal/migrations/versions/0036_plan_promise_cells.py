"""the plans' and the promises' cells (``portal.reporting.arrangements``,
``portal.reporting.promises``): ``plan_cells`` (the plans accepted each month, per slice at
the month's start, kind, status, first-payment channel and offer maker: counts and money)
and ``promise_cells`` (the promises made each month, per slice, taker and status: counts
and money). Empty here: the month-end step counts them, and ``haohuan report backfill``
the months it reconstructs.

Revision ID: 0024_plan_promise_cells
Revises: 0023_funnel_cure_cells
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0024_plan_promise_cells"
down_revision = "0023_funnel_cure_cells"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAGES = ("current", "early", "mid", "late")
KINDS = ("pay_in_full", "deferral", "arrears_plan", "restructure", "settlement")
PLAN_STATUSES = ("pending", "active", "completed", "broken", "lapsed", "cancelled")
CHANNELS = ("portal", "agent_offer", "autopay")
PROMISE_STATUSES = ("open", "kept", "partly_kept", "broken", "superseded")


def _codes(values: tuple[str, ...], name: str, length: int) -> sa.Enum:
    # The naming convention makes the CHECK ck_<table>_<name>.
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def _slices() -> list[sa.Column[Any]]:
    return [
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("market", sa.String(length=5), nullable=False),
        sa.Column("stage", _codes(STAGES, "stage", 16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("arm", sa.String(length=97), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "plan_cells",
        sa.Column("id", ID, nullable=False),
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("kind", _codes(KINDS, "kind", 24), nullable=False),
        sa.Column("status", _codes(PLAN_STATUSES, "status", 16), nullable=False),
        sa.Column("channel", _codes(CHANNELS, "channel", 16), nullable=False),
        sa.Column("arranged_by", sa.String(length=254), nullable=True),
        sa.Column("plans", sa.Integer(), nullable=False),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("waiver", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        *_slices(),
        sa.PrimaryKeyConstraint("id", name="pk_plan_cells"),
    )
    op.create_index("ix_plan_cells_month_end", "plan_cells", ["month_end"])
    op.create_table(
        "promise_cells",
        sa.Column("id", ID, nullable=False),
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("made_by", sa.String(length=254), nullable=True),
        sa.Column("status", _codes(PROMISE_STATUSES, "status", 16), nullable=False),
        sa.Column("promises", sa.Integer(), nullable=False),
        sa.Column("promised", sa.BigInteger(), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        *_slices(),
        sa.PrimaryKeyConstraint("id", name="pk_promise_cells"),
    )
    op.create_index("ix_promise_cells_month_end", "promise_cells", ["month_end"])


def downgrade() -> None:
    op.drop_index("ix_promise_cells_month_end", table_name="promise_cells")
    op.drop_table("promise_cells")
    op.drop_index("ix_plan_cells_month_end", table_name="plan_cells")
    op.drop_table("plan_cells")
