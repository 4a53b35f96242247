"""cases by owner, most days past due first: the index "My work" and "Next case" walk in
order (an agent's own cases from the oldest overdue date), so a click reads the few rows
it shows rather than sorting an agent's whole book.

Revision ID: 0014_mywork
Revises: 0014_flags
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0014_mywork"
down_revision = "0014_flags"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_owner_overdue", "cases", ["owner_id", "overdue_since", "id"])


def downgrade() -> None:
    op.drop_index("ix_cases_owner_overdue", table_name="cases")
