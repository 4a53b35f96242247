"""the liquidation curves' history (``portal.reporting.liquidation``): ``arrears_entries``
(each case's entries into arrears, seen at month-ends) and ``liquidation_cells`` (each
entry cohort's cases, overdue at entry and money collected since, month by month after
entry, per slice). Empty here: the daily work counts them with each month-end, and
``haohuan report backfill`` with the month-ends it reconstructs.

Revision ID: 0021_liquidation
Revises: 0020_report_periods
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_liquidation"
down_revision = "0020_report_periods"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAGES = ("current", "early", "mid", "late")


def upgrade() -> None:
    op.create_table(
        "arrears_entries",
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_arrears_entries_case_id_cases"),
        sa.PrimaryKeyConstraint("month_end", "case_id", name="pk_arrears_entries"),
    )
    op.create_index("ix_arrears_entries_case_id", "arrears_entries", ["case_id", "month_end"])
    op.create_table(
        "liquidation_cells",
        sa.Column("id", ID, nullable=False),
        sa.Column("cohort", sa.Date(), nullable=False),
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("market", sa.String(length=5), nullable=False),
        sa.Column(
            "stage",
            # The naming convention makes the CHECK ck_liquidation_cells_stage.
            sa.Enum(*STAGES, name="stage", native_enum=False, create_constraint=True, length=16),
            nullable=False,
        ),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("arm", sa.String(length=97), nullable=True),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.BigInteger(), nullable=False),
        sa.Column("collected", sa.BigInteger(), nullable=False),
        sa.Column("recovered", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_liquidation_cells"),
    )
    op.create_index("ix_liquidation_cells_cohort", "liquidation_cells", ["cohort", "month_end"])


def downgrade() -> None:
    op.drop_index("ix_liquidation_cells_cohort", table_name="liquidation_cells")
    op.drop_table("liquidation_cells")
    op.drop_index("ix_arrears_entries_case_id", table_name="arrears_entries")
    op.drop_table("arrears_entries")
