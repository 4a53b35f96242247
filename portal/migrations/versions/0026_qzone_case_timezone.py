"""each case's copy of its borrower's time zone (``cases.timezone``, kept by
``portal.cases.zones``), copied here for every case: the queue reads the borrower's today
at the edge of a stored amount's window or of a band of days past due from the case's own
row, not through its loan and borrower. On PostgreSQL the index on the overdue date carries
it too, so counting a band of days past due still reads that index only.

Revision ID: 0014_qzone
Revises: 0014_queue1m_by_currency
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_qzone"
down_revision = "0014_queue1m_by_currency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from portal.cases.zones import copy

    bind = op.get_bind()
    op.add_column("cases", sa.Column("timezone", sa.String(length=64), nullable=True))
    copy(bind)
    if bind.dialect.name == "postgresql":
        _overdue_since_index(include=["loan_id", "timezone"])
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
    from portal.core.db import forget_columns

    forget_columns()
    if op.get_bind().dialect.name == "postgresql":
        _overdue_since_index(include=["loan_id"])
    op.execute("ALTER TABLE cases DROP COLUMN timezone")
