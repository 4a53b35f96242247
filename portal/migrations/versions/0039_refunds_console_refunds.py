"""refunds finance makes from the console (``portal.models.Refund``): the payment, the
amount and currency, a reason code and note, the status (waiting for a second person,
sending, succeeded, failed, cancelled), who asked and who decided, the gateway's refund
id and the idempotency key it is sent with (unique: one refund per form, however often
it is sent). New, so nothing to backfill.

Revision ID: 0027_refunds
Revises: 0026_disputes
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027_refunds"
down_revision = "0026_disputes"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)

STATUSES = ("awaiting_approval", "sending", "succeeded", "failed", "cancelled")
REASONS = (
    "duplicate",
    "overpayment",
    "borrower_request",
    "paid_in_error",
    "goodwill",
    "other",
)


def _codes(values: tuple[str, ...], name: str, length: int) -> sa.Enum:
    # The naming convention makes the CHECK ck_<table>_<name>.
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("id", ID, nullable=False),
        sa.Column("payment_id", ID, nullable=False),
        sa.Column("amount", ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", _codes(REASONS, "reason", 24), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("status", _codes(STATUSES, "status", 24), nullable=False),
        sa.Column("requested_by", ID, nullable=False),
        sa.Column("requested_at", MOMENT, nullable=False),
        sa.Column("decided_by", ID, nullable=True),
        sa.Column("decided_at", MOMENT, nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("gateway_refund_id", sa.String(length=128), nullable=True),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("finished_at", MOMENT, nullable=True),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_refunds_payment_id_payments"
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["staff_members.id"], name="fk_refunds_requested_by_staff_members"
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["staff_members.id"], name="fk_refunds_decided_by_staff_members"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.UniqueConstraint("idempotency_key", name="uq_refunds_idempotency_key"),
    )
    op.create_index("ix_refunds_payment_id", "refunds", ["payment_id"])
    op.create_index("ix_refunds_status", "refunds", ["status"])


def downgrade() -> None:
    op.drop_index("ix_refunds_status", table_name="refunds")
    op.drop_index("ix_refunds_payment_id", table_name="refunds")
    op.drop_table("refunds")
