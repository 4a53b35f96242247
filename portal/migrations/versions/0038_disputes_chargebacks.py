"""chargebacks: ``disputes``, each dispute of a payment as the gateway reports it (reason,
amount, dispute fee, evidence due date, status) and the evidence finance sent; and
``webhook_inbox.details``, what a dispute event says besides the money it holds, kept
until the event is settled. New, so nothing to backfill: disputes received before this
moved the ledger only, as they still do.

Revision ID: 0026_disputes
Revises: 0025_contact_cells
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026_disputes"
down_revision = "0025_contact_cells"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)
STATUSES = (
    "warning_needs_response",
    "warning_under_review",
    "warning_closed",
    "needs_response",
    "under_review",
    "won",
    "lost",
    "prevented",
)


def upgrade() -> None:
    op.add_column("webhook_inbox", sa.Column("details", sa.JSON(), nullable=True))
    # The naming convention makes the CHECK ck_disputes_status (a full name given here
    # would be prefixed a second time).
    allowed = ", ".join(f"'{value}'" for value in STATUSES)
    op.create_table(
        "disputes",
        sa.Column("id", ID, nullable=False),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("payment_id", ID, nullable=True),
        sa.Column("payment_reference", sa.String(length=128), nullable=False),
        sa.Column("charge_reference", sa.String(length=128), nullable=True),
        sa.Column("amount", ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("fee", ID, server_default="0", nullable=False),
        sa.Column("fee_currency", sa.String(length=3), server_default="", nullable=False),
        sa.Column("evidence_due_by", MOMENT, nullable=True),
        sa.Column("opened_at", MOMENT, nullable=False),
        sa.Column("closed_at", MOMENT, nullable=True),
        sa.Column("last_event_at", MOMENT, nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("evidence_submitted_at", MOMENT, nullable=True),
        sa.Column("evidence_submitted_by", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_disputes_payment_id_payments"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_disputes"),
        sa.UniqueConstraint("gateway", "reference", name="uq_disputes_gateway"),
        sa.CheckConstraint(f"status IN ({allowed})", name="status"),
    )
    op.create_index("ix_disputes_payment_id", "disputes", ["payment_id"])


def downgrade() -> None:
    op.drop_index("ix_disputes_payment_id", table_name="disputes")
    op.drop_table("disputes")
    with op.batch_alter_table("webhook_inbox") as batch:
        batch.drop_column("details")
