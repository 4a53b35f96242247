"""webhook inbox: every verified gateway event, recorded when the webhook acknowledges it
and settled afterwards by a job (``portal.payments.inbox``). New, so nothing to backfill:
events acknowledged before it were settled in their request.

Revision ID: 0015_hook
Revises: 0014_qzone
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_hook"
down_revision = "0014_qzone"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OUTCOMES = ("succeeded", "failed", "declined", "refunded", "disputed")
UNSETTLED = sa.text("settled_at IS NULL")


def upgrade() -> None:
    # The naming convention makes the CHECK ck_webhook_inbox_outcome (a full name given
    # here would be prefixed a second time).
    allowed = ", ".join(f"'{value}'" for value in OUTCOMES)
    op.create_table(
        "webhook_inbox",
        sa.Column("id", ID, nullable=False),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("amount", ID, server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=16), server_default="", nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", ID, server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_inbox"),
        sa.UniqueConstraint("gateway", "event_id", name="uq_webhook_inbox_gateway"),
        sa.CheckConstraint(f"outcome IN ({allowed})", name="outcome"),
    )
    op.create_index(
        "ix_webhook_inbox_unsettled",
        "webhook_inbox",
        ["received_at"],
        sqlite_where=UNSETTLED,
        postgresql_where=UNSETTLED,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_inbox_unsettled", table_name="webhook_inbox")
    op.drop_table("webhook_inbox")
