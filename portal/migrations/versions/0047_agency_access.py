"""the offer authority a lender sets for each partner agency (``portal.agencies``):
``agencies.offer_max_installments``, ``offer_max_penalty_waiver_pct`` and
``offer_max_fee_waiver_pct``, each bounded by the policy's agent authority when set. The
columns of 0031 stay as they are. An agency made before this gets the narrowest
authority (pay in full or one installment, nothing waived) until a supervisor widens it.

Revision ID: 0035_agency_access
Revises: 0034_visits
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0035_agency_access"
down_revision = "0034_visits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agencies") as batch:
        batch.add_column(
            sa.Column(
                "offer_max_installments", sa.Integer(), server_default=sa.text("1"), nullable=False
            )
        )
        batch.add_column(
            sa.Column(
                "offer_max_penalty_waiver_pct",
                sa.Numeric(5, 2),
                server_default=sa.text("0"),
                nullable=False,
            )
        )
        batch.add_column(
            sa.Column(
                "offer_max_fee_waiver_pct",
                sa.Numeric(5, 2),
                server_default=sa.text("0"),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("agencies") as batch:
        batch.drop_column("offer_max_fee_waiver_pct")
        batch.drop_column("offer_max_penalty_waiver_pct")
        batch.drop_column("offer_max_installments")
