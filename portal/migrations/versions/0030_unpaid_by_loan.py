"""a loan's unpaid installments in due order: a partial index on (loan_id, due_date) of
the installments still owed, beside ``ix_loan_installments_unpaid`` (due_date first, for
the daily work's range of due dates). The queue's rows and My work count each case's
oldest unpaid due date and its overdue amount from a loan's unpaid installments: with it
each is a few index entries, not every installment of the loan read from the table.

Revision ID: 0018_unpaid_by_loan
Revises: 0017_autopay
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0018_unpaid_by_loan"
down_revision = "0017_autopay"
branch_labels = None
depends_on = None

UNPAID = (
    "principal_paid + principal_waived < principal_due"
    " OR interest_paid + interest_waived < interest_due"
)


def upgrade() -> None:
    op.create_index(
        "ix_loan_installments_unpaid_by_loan",
        "loan_installments",
        ["loan_id", "due_date"],
        sqlite_where=text(UNPAID),
        postgresql_where=text(UNPAID),
    )


def downgrade() -> None:
    op.drop_index("ix_loan_installments_unpaid_by_loan", table_name="loan_installments")
