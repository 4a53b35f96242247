"""partner agencies' commission (``portal.models.commission``): ``commission_entries``,
one append-only row per movement of money on a placed case (a payment, a refund, a
chargeback) with the commission it booked or clawed back. New, so nothing to backfill:
the booking step reads the ledger's allocations from the start.

Revision ID: 0032_commission_entries
Revises: 0031_agencies
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032_commission_entries"
down_revision = "0031_agencies"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "commission_entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("placement_id", ID, nullable=False),
        sa.Column("agency_id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("payment_id", ID, nullable=False),
        sa.Column("allocation_id", ID, nullable=False),
        sa.Column(
            "cause",
            sa.Enum(
                "payment",
                "refund",
                "dispute",
                name="cause",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(6, 4), nullable=False),
        sa.Column("moved", ID, nullable=False),
        sa.Column("net_after", ID, nullable=False),
        sa.Column("commission", ID, nullable=False),
        sa.Column("commission_after", ID, nullable=False),
        sa.Column("moved_at", MOMENT, nullable=False),
        sa.Column("recorded_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["agency_placements.id"],
            name="fk_commission_entries_placement_id_agency_placements",
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name="fk_commission_entries_agency_id_agencies"
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_commission_entries_case_id_cases"
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_commission_entries_payment_id_payments"
        ),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["allocations.id"],
            name="fk_commission_entries_allocation_id_allocations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_commission_entries"),
        sa.UniqueConstraint("allocation_id", name="uq_commission_entries_allocation_id"),
    )
    op.create_index(
        "ix_commission_entries_placement_id", "commission_entries", ["placement_id"], unique=False
    )
    op.create_index(
        "ix_commission_entries_case_id", "commission_entries", ["case_id"], unique=False
    )
    op.create_index(
        "ix_commission_entries_payment_id", "commission_entries", ["payment_id"], unique=False
    )
    op.create_index(
        "ix_commission_entries_agency_moved",
        "commission_entries",
        ["agency_id", "moved_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("commission_entries")
