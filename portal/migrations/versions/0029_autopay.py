"""automatic plan payments: saved cards, autopay mandates and their attempts, and the
payments the autopay run opened (``payments.automatic``). New, so nothing to backfill:
every payment made before it was made by hand.

Revision ID: 0017_autopay
Revises: 0016_million
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_autopay"
down_revision = "0016_million"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)


def _codes(values: tuple[str, ...], name: str, length: int) -> sa.Enum:
    # The naming convention makes the CHECK ck_<table>_<name>.
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.create_table(
        "saved_cards",
        sa.Column("id", ID, nullable=False),
        sa.Column("borrower_id", ID, nullable=False),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("customer_ref", sa.String(length=128), nullable=False),
        sa.Column("method_ref", sa.String(length=128), nullable=False),
        sa.Column("brand", sa.String(length=24), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("exp_month", ID, nullable=False),
        sa.Column("exp_year", ID, nullable=False),
        sa.Column(
            "status",
            _codes(("active", "removed", "expired", "detached"), "status", 16),
            nullable=False,
        ),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("ended_at", MOMENT, nullable=True),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrowers.id"], name="fk_saved_cards_borrower_id_borrowers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_saved_cards"),
        sa.UniqueConstraint("gateway", "method_ref", name="uq_saved_cards_gateway"),
    )
    op.create_index("ix_saved_cards_borrower_id", "saved_cards", ["borrower_id"])
    active = sa.text("status = 'active'")
    op.create_index(
        "uq_saved_cards_one_active",
        "saved_cards",
        ["borrower_id"],
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )
    op.create_table(
        "autopays",
        sa.Column("id", ID, nullable=False),
        sa.Column("plan_id", ID, nullable=False),
        sa.Column("card_id", ID, nullable=True),
        sa.Column("status", _codes(("pending", "on", "off"), "status", 16), nullable=False),
        sa.Column("consented_at", MOMENT, nullable=False),
        sa.Column("terms_version", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("shown_hash", sa.String(length=64), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=512), nullable=False),
        sa.Column("started_at", MOMENT, nullable=True),
        sa.Column("ended_at", MOMENT, nullable=True),
        sa.Column(
            "ended_because",
            _codes(
                ("borrower", "card_expired", "card_unusable", "plan_ended", "replaced"),
                "ended_because",
                16,
            ),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["saved_cards.id"], name="fk_autopays_card_id_saved_cards"
        ),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name="fk_autopays_plan_id_plans"),
        sa.PrimaryKeyConstraint("id", name="pk_autopays"),
    )
    op.create_index("ix_autopays_card_id", "autopays", ["card_id"])
    op.create_index("ix_autopays_plan_id", "autopays", ["plan_id"])
    live = sa.text("status IN ('pending', 'on')")
    op.create_index(
        "uq_autopays_one_live",
        "autopays",
        ["plan_id"],
        unique=True,
        sqlite_where=live,
        postgresql_where=live,
    )
    op.create_table(
        "autopay_attempts",
        sa.Column("id", ID, nullable=False),
        sa.Column("autopay_id", ID, nullable=False),
        sa.Column("installment_id", ID, nullable=False),
        sa.Column("number", ID, nullable=False),
        sa.Column("scheduled_on", sa.Date(), nullable=False),
        sa.Column(
            "outcome",
            _codes(
                (
                    "succeeded",
                    "declined",
                    "needs_authentication",
                    "card_unusable",
                    "unknown",
                    "charging",
                ),
                "outcome",
                24,
            ),
            nullable=False,
        ),
        sa.Column("payment_id", ID, nullable=True),
        sa.Column("card_id", ID, nullable=False),
        sa.Column("amount", ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("decline_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("finished_at", MOMENT, nullable=True),
        sa.ForeignKeyConstraint(
            ["autopay_id"], ["autopays.id"], name="fk_autopay_attempts_autopay_id_autopays"
        ),
        sa.ForeignKeyConstraint(
            ["installment_id"],
            ["plan_installments.id"],
            name="fk_autopay_attempts_installment_id_plan_installments",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_autopay_attempts_payment_id_payments"
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["saved_cards.id"], name="fk_autopay_attempts_card_id_saved_cards"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_autopay_attempts"),
        sa.UniqueConstraint("installment_id", "number", name="uq_autopay_attempts_installment_id"),
        sa.UniqueConstraint("key", name="uq_autopay_attempts_key"),
        sa.UniqueConstraint("payment_id", name="uq_autopay_attempts_payment_id"),
    )
    op.create_index("ix_autopay_attempts_autopay_id", "autopay_attempts", ["autopay_id"])
    # Plain ADD COLUMN, not a batch: a batch rebuilds payments on SQLite and would drop
    # its expression index (uq_payments_one_open).
    op.add_column(
        "payments", sa.Column("automatic", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 on), for the same reason as the ADD.
    op.drop_column("payments", "automatic")
    op.drop_table("autopay_attempts")
    op.drop_table("autopays")
    op.drop_table("saved_cards")
