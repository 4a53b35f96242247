"""when each allocation was booked and why: ``allocations.booked_at`` (the day the
general-ledger journals post it on, indexed for a day's range) and ``allocations.cause``
(payment, refund or dispute: the account the journal posts it against). Allocations
written before are dated by their payment's confirmation, and a negative one is taken
for a dispute's when the payment shows money disputed, else for a refund's.

Revision ID: 0029_allocation_booking
Revises: 0028_finexc
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029_allocation_booking"
down_revision = "0028_finexc"
branch_labels = None
depends_on = None

CAUSE_CHECK = "cause IN ('payment', 'refund', 'dispute')"
# SQLite adds a NOT NULL column only with a constant default: a placeholder, replaced by
# the backfill below before anything reads it.
PLACEHOLDER = "1970-01-01 00:00:00.000000"


def upgrade() -> None:
    bind = op.get_bind()
    # Plain ADD COLUMNs (a batch would rebuild the table): SQLite takes the CHECK inline.
    if bind.dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE allocations ADD COLUMN booked_at DATETIME NOT NULL "
            f"DEFAULT '{PLACEHOLDER}'"
        )
        op.execute(
            "ALTER TABLE allocations ADD COLUMN cause VARCHAR(16) DEFAULT 'payment' NOT NULL "
            f"CONSTRAINT ck_allocations_cause CHECK ({CAUSE_CHECK})"
        )
    else:
        op.add_column(
            "allocations", sa.Column("booked_at", sa.DateTime(timezone=True), nullable=True)
        )
        op.add_column(
            "allocations",
            sa.Column("cause", sa.String(length=16), server_default="payment", nullable=False),
        )
        op.create_check_constraint(op.f("ck_allocations_cause"), "allocations", CAUSE_CHECK)
    op.execute(
        "UPDATE allocations SET booked_at = (SELECT coalesce(p.confirmed_at, p.created_at) "
        "FROM payments p WHERE p.id = allocations.payment_id)"
    )
    op.execute(
        "UPDATE allocations SET cause = CASE WHEN (SELECT p.disputed FROM payments p "
        "WHERE p.id = allocations.payment_id) > 0 THEN 'dispute' ELSE 'refund' END "
        "WHERE amount < 0"
    )
    if bind.dialect.name != "sqlite":
        op.alter_column("allocations", "booked_at", nullable=False)
    op.create_index("ix_allocations_booked_at", "allocations", ["booked_at"])


def downgrade() -> None:
    op.drop_index("ix_allocations_booked_at", table_name="allocations")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_allocations_cause"), "allocations", type_="check")
    # Plain DROP COLUMNs (SQLite 3.35 on; its CHECK belongs to the column, so it goes too).
    op.drop_column("allocations", "cause")
    op.drop_column("allocations", "booked_at")
