"""the portal funnel's and contacts per cure's cells (``portal.reporting.funnel``,
``portal.reporting.cures``): ``funnel_cells`` (per month, slice at the month's start,
step, language and device class: the cases that reached the step) and ``cure_cells``
(per month pair's second month-end and slice at the first: the cures and the contact on
them in the month). Empty here: the month-end step counts them (``haohuan report
backfill`` and the daily work).

Revision ID: 0023_funnel_cure_cells
Revises: 0022_agent_cells
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_funnel_cure_cells"
down_revision = "0022_agent_cells"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAGES = ("current", "early", "mid", "late")
STEPS = (
    "reminder_sent",
    "link_opened",
    "verified",
    "options_seen",
    "plan_reviewed",
    "accepted",
    "first_payment",
)
DEVICES = ("phone", "tablet", "desktop", "unknown")


def _codes(name: str, values: tuple[str, ...]) -> sa.Enum:
    # The naming convention makes the CHECK ck_<table>_<name>.
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _slices() -> list[sa.Column[object]]:
    return [
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("market", sa.String(length=5), nullable=False),
        sa.Column("stage", _codes("stage", STAGES), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("arm", sa.String(length=97), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "funnel_cells",
        sa.Column("id", ID, nullable=False),
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("step", _codes("step", STEPS), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("device", _codes("device", DEVICES), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        *_slices(),
        sa.PrimaryKeyConstraint("id", name="pk_funnel_cells"),
    )
    op.create_index("ix_funnel_cells_month_end", "funnel_cells", ["month_end"])
    op.create_table(
        "cure_cells",
        sa.Column("id", ID, nullable=False),
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("cures", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("connected", sa.Integer(), nullable=False),
        *_slices(),
        sa.PrimaryKeyConstraint("id", name="pk_cure_cells"),
    )
    op.create_index("ix_cure_cells_month_end", "cure_cells", ["month_end"])


def downgrade() -> None:
    op.drop_index("ix_cure_cells_month_end", table_name="cure_cells")
    op.drop_table("cure_cells")
    op.drop_index("ix_funnel_cells_month_end", table_name="funnel_cells")
    op.drop_table("funnel_cells")
