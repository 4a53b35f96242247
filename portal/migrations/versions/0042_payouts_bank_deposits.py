"""payouts to the bank (``portal.finance.payouts``): ``payouts`` (each Stripe payout a
reconciliation run saw, upserted by its Stripe id), ``payout_transactions`` (the balance
transactions an automatic payout carried), ``bank_statements`` (statement files imported,
unique by SHA-256) and ``bank_deposits`` (money in on the bank account, each ticked off
against at most one payout, automatically or by hand). New, so nothing to backfill: the
next run stores the payouts it lists.

Revision ID: 0030_payouts
Revises: 0029_allocation_booking
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030_payouts"
down_revision = "0029_allocation_booking"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)


def _codes(values: tuple[str, ...], name: str, length: int) -> sa.Enum:
    # The naming convention makes the CHECK ck_<table>_<name>.
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.create_table(
        "payouts",
        sa.Column("id", ID, nullable=False),
        sa.Column("stripe_id", sa.String(length=128), nullable=False),
        sa.Column("amount", ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("arrival_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("statement_descriptor", sa.String(length=64), nullable=True),
        sa.Column("transaction_count", ID, nullable=True),
        sa.Column("transaction_sum", ID, nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("first_seen_at", MOMENT, nullable=False),
        sa.Column("last_seen_at", MOMENT, nullable=False),
        sa.Column("last_run_id", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["reconciliation_runs.id"],
            name="fk_payouts_last_run_id_reconciliation_runs",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_payouts"),
        sa.UniqueConstraint("stripe_id", name="uq_payouts_stripe_id"),
    )
    op.create_table(
        "payout_transactions",
        sa.Column("id", ID, nullable=False),
        sa.Column("payout_id", ID, nullable=False),
        sa.Column("balance_transaction", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("amount", ID, nullable=False),
        sa.Column("fee", ID, nullable=False),
        sa.Column("net", ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("payment_intent", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["payout_id"], ["payouts.id"], name="fk_payout_transactions_payout_id_payouts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_payout_transactions"),
        sa.UniqueConstraint(
            "payout_id", "balance_transaction", name="uq_payout_transactions_payout_id"
        ),
    )
    op.create_index("ix_payout_transactions_payout_id", "payout_transactions", ["payout_id"])
    op.create_table(
        "bank_statements",
        sa.Column("id", ID, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("format", _codes(("camt053", "mt940"), "format", 16), nullable=False),
        sa.Column("statement_date", sa.Date(), nullable=True),
        sa.Column("imported_at", MOMENT, nullable=False),
        sa.Column("imported_by", sa.String(length=254), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bank_statements"),
        sa.UniqueConstraint("sha256", name="uq_bank_statements_sha256"),
    )
    op.create_table(
        "bank_deposits",
        sa.Column("id", ID, nullable=False),
        sa.Column("statement_id", ID, nullable=True),
        sa.Column("statement_date", sa.Date(), nullable=True),
        sa.Column("booking_date", sa.Date(), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("amount", ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("bank_reference", sa.String(length=128), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("payout_id", ID, nullable=True),
        sa.Column("matched_how", _codes(("auto", "manual"), "matched_how", 16), nullable=True),
        sa.Column("matched_by", sa.String(length=254), nullable=True),
        sa.Column("matched_at", MOMENT, nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["bank_statements.id"],
            name="fk_bank_deposits_statement_id_bank_statements",
        ),
        sa.ForeignKeyConstraint(
            ["payout_id"], ["payouts.id"], name="fk_bank_deposits_payout_id_payouts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bank_deposits"),
        sa.UniqueConstraint("payout_id", name="uq_bank_deposits_payout_id"),
    )
    op.create_index("ix_bank_deposits_statement_id", "bank_deposits", ["statement_id"])
    op.create_index("ix_bank_deposits_bank_reference", "bank_deposits", ["bank_reference"])


def downgrade() -> None:
    op.drop_table("bank_deposits")
    op.drop_table("bank_statements")
    op.drop_table("payout_transactions")
    op.drop_table("payouts")
