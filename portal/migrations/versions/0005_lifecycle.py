"""lifecycle: the daily case work's state (overdue since, missed and moved installments,
the days worked) and the partial indexes it reads through

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UNPAID = (
    "principal_paid + principal_waived < principal_due "
    "OR interest_paid + interest_waived < interest_due"
)


def upgrade() -> None:
    op.create_table(
        "lifecycle_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_runs")),
        sa.UniqueConstraint("as_of", name=op.f("uq_lifecycle_runs_as_of")),
    )
    # Plain ADD COLUMN and CREATE INDEX: nothing here rebuilds a table.
    op.add_column("cases", sa.Column("overdue_since", sa.Date(), nullable=True))
    op.create_index(
        "ix_cases_overdue_since",
        "cases",
        ["overdue_since"],
        sqlite_where=sa.text("overdue_since IS NOT NULL"),
        postgresql_where=sa.text("overdue_since IS NOT NULL"),
    )
    op.create_index(
        "ix_loan_installments_unpaid",
        "loan_installments",
        ["due_date", "loan_id"],
        sqlite_where=sa.text(UNPAID),
        postgresql_where=sa.text(UNPAID),
    )
    op.add_column("plan_installments", sa.Column("missed_on", sa.Date(), nullable=True))
    op.add_column("plan_installments", sa.Column("moved_from", sa.Date(), nullable=True))
    # A broken or lapsed plan's checkouts are voided by plan: found by index.
    op.create_index("ix_payments_plan_id", "payments", ["plan_id"])
    op.create_index(
        "ix_plan_installments_unpaid",
        "plan_installments",
        ["due_date"],
        sqlite_where=sa.text("paid < amount"),
        postgresql_where=sa.text("paid < amount"),
    )


def downgrade() -> None:
    op.drop_index("ix_plan_installments_unpaid", table_name="plan_installments")
    op.drop_index("ix_payments_plan_id", table_name="payments")
    with op.batch_alter_table("plan_installments") as batch_op:
        batch_op.drop_column("moved_from")
        batch_op.drop_column("missed_on")
    op.drop_index("ix_loan_installments_unpaid", table_name="loan_installments")
    op.drop_index("ix_cases_overdue_since", table_name="cases")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("overdue_since")
    op.drop_table("lifecycle_runs")
