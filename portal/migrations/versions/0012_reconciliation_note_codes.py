"""reconciliation notes as a code and its values, worded in the reader's language when
shown: ``reconciliation_items.note_code`` and ``note_values`` (the English ``note`` of
earlier lines stays as it was)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reconciliation_items", sa.Column("note_code", sa.String(32), nullable=True))
    op.add_column("reconciliation_items", sa.Column("note_values", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("reconciliation_items", "note_values")
    op.drop_column("reconciliation_items", "note_code")
