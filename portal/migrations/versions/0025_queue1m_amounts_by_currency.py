"""the queue's stored overdue amounts by currency: one index on (arrears_currency, arrears)
that the amount filter reads as a range and the sort by amount reads in order, a currency
at a time, in place of the partial index on the amount alone. On PostgreSQL it carries
(INCLUDE) what the queue's count also reads of those rows (the window of days, the
overdue date, the loan and the case id), so counting a range of amounts reads the index
only, not the table; and the index on the overdue date carries the loan, so counting a
band of days past due (which reads the borrower's zone through the loan at the band's
edge) reads that index only too.

Revision ID: 0014_queue1m_by_currency
Revises: 0014_queue1m
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_queue1m_by_currency"
down_revision = "0014_queue1m"
branch_labels = None
depends_on = None

CARRIED = ["overdue_since", "arrears_after", "arrears_until", "loan_id", "id"]


def upgrade() -> None:
    op.create_index(
        "ix_cases_arrears_by_currency",
        "cases",
        ["arrears_currency", "arrears"],
        postgresql_include=CARRIED,
    )
    op.drop_index("ix_cases_arrears", table_name="cases")
    if op.get_bind().dialect.name == "postgresql":
        _overdue_since_index(include=["loan_id"])
        op.execute("ANALYZE cases")


def _overdue_since_index(include: list[str]) -> None:
    op.drop_index("ix_cases_overdue_since", table_name="cases")
    op.create_index(
        "ix_cases_overdue_since",
        "cases",
        ["overdue_since"],
        postgresql_where=sa.text("overdue_since IS NOT NULL"),
        postgresql_include=include,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _overdue_since_index(include=[])
    op.create_index(
        "ix_cases_arrears",
        "cases",
        ["arrears"],
        sqlite_where=sa.text("arrears > 0"),
        postgresql_where=sa.text("arrears > 0"),
    )
    op.drop_index("ix_cases_arrears_by_currency", table_name="cases")
