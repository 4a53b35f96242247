"""the book's history for reporting: ``case_month_ends`` (each case as it stood at each
month-end) and ``portfolio_transitions`` (the month-to-month transitions counted from
it). Empty here: the daily work writes each month-end from now on, and
``haohuan report backfill`` fills earlier months from the case events.

Revision ID: 0019_month_ends
Revises: 0018_unpaid_by_loan
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_month_ends"
down_revision = "0018_unpaid_by_loan"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAGES = ("current", "early", "mid", "late")
BUCKETS = ("current", "1_30", "31_60", "61_90", "91_180", "181_plus", "closed")


def _codes(values: tuple[str, ...], name: str, length: int) -> sa.Enum:
    # The naming convention makes the CHECK ck_<table>_<name>.
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.create_table(
        "case_month_ends",
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("market", sa.String(length=5), nullable=False),
        sa.Column("stage", _codes(STAGES, "stage", 16), nullable=False),
        sa.Column("status", _codes(("open", "arranged", "resolved"), "status", 16), nullable=False),
        sa.Column("owner_id", ID, nullable=True),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("arm", sa.String(length=97), nullable=True),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("bucket", _codes(BUCKETS, "bucket", 16), nullable=False),
        sa.Column("overdue", sa.BigInteger(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("overdue_since", sa.Date(), nullable=True),
        sa.Column("exact", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_month_ends_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["staff_members.id"], name="fk_case_month_ends_owner_id_staff_members"
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_case_month_ends_team_id_teams"),
        sa.PrimaryKeyConstraint("month_end", "case_id", name="pk_case_month_ends"),
    )
    op.create_index("ix_case_month_ends_case_id", "case_month_ends", ["case_id", "month_end"])
    op.create_table(
        "portfolio_transitions",
        sa.Column("id", ID, nullable=False),
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("next_month_end", sa.Date(), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("market", sa.String(length=5), nullable=False),
        sa.Column("stage", _codes(STAGES, "stage", 16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("arm", sa.String(length=97), nullable=True),
        sa.Column("from_bucket", _codes(BUCKETS, "from_bucket", 16), nullable=False),
        sa.Column("to_bucket", _codes(BUCKETS, "to_bucket", 16), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_portfolio_transitions"),
    )
    op.create_index("ix_portfolio_transitions_month_end", "portfolio_transitions", ["month_end"])


def downgrade() -> None:
    op.drop_index("ix_portfolio_transitions_month_end", table_name="portfolio_transitions")
    op.drop_table("portfolio_transitions")
    op.drop_index("ix_case_month_ends_case_id", table_name="case_month_ends")
    op.drop_table("case_month_ends")
