"""inbound_sms: the SMS borrowers sent us, by the provider's id, so a redelivery acts once

Revision ID: 0037_inbound_sms
Revises: 0036_chat_accounts
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0037_inbound_sms"
down_revision = "0036_chat_accounts"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inbound_sms",
        sa.Column("id", ID, nullable=False),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stop", sa.Boolean(), nullable=False),
        sa.Column("opted_out", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("opted_out >= 0", name=op.f("ck_inbound_sms_opted_out")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_sms")),
        sa.UniqueConstraint("message_sid", name=op.f("uq_inbound_sms_message_sid")),
    )


def downgrade() -> None:
    op.drop_table("inbound_sms")
