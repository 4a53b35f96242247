"""reconciliation exceptions worked to an end, and closed months: one
``reconciliation_exceptions`` row per unmatched line's identity (its owner, status,
resolution and write-off approval), their append-only history
(``exception_notes``), and ``period_closes``. New, so nothing to
backfill: the next run opens the exceptions of the lines it finds unmatched. And
``sandbox_plants``, the discrepancies the demo plants in the sandbox's books so that it
has something to reconcile.

Revision ID: 0028_finexc
Revises: 0027_refunds
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028_finexc"
down_revision = "0027_refunds"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)
STATUSES = ("open", "investigating", "resolved", "written_off")
RESOLUTIONS = (
    "linked_to_payment",
    "recorded_refund",
    "recorded_payment",
    "duplicate",
    "written_off",
    "matched_later",
)

PLANTS = ("stray_charge", "unrecorded_refund", "not_at_gateway", "other_amount")


def _codes(values: tuple[str, ...], name: str, length: int) -> sa.Enum:
    # The naming convention makes the CHECK ck_<table>_<name>.
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def _staff(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["staff_members.id"], name=f"fk_{table}_{column}_staff_members"
    )


def upgrade() -> None:
    table = "reconciliation_exceptions"
    op.create_table(
        table,
        sa.Column("id", ID, nullable=False),
        sa.Column("identity", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("item_id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("payment_id", ID, nullable=True),
        sa.Column("stripe_amount", ID, nullable=True),
        sa.Column("our_amount", ID, nullable=True),
        sa.Column("status", _codes(STATUSES, "status", 16), nullable=False),
        sa.Column("owner_id", ID, nullable=True),
        sa.Column("opened_at", MOMENT, nullable=False),
        sa.Column("last_seen_at", MOMENT, nullable=False),
        sa.Column("resolution", _codes(RESOLUTIONS, "resolution", 24), nullable=True),
        sa.Column("resolved_by", ID, nullable=True),
        sa.Column("resolved_at", MOMENT, nullable=True),
        sa.Column("write_off_amount", ID, nullable=True),
        sa.Column("write_off_by", ID, nullable=True),
        sa.Column("write_off_at", MOMENT, nullable=True),
        sa.Column("approved_by", ID, nullable=True),
        sa.Column("approved_at", MOMENT, nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["reconciliation_items.id"],
            name=f"fk_{table}_item_id_reconciliation_items",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["reconciliation_runs.id"], name=f"fk_{table}_run_id_reconciliation_runs"
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=f"fk_{table}_payment_id_payments"
        ),
        _staff(table, "owner_id"),
        _staff(table, "resolved_by"),
        _staff(table, "write_off_by"),
        _staff(table, "approved_by"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint("identity", name=f"uq_{table}_identity"),
    )
    op.create_index(f"ix_{table}_month", table, ["month"])
    op.create_index(f"ix_{table}_owner_id", table, ["owner_id"])
    notes = "exception_notes"
    op.create_table(
        notes,
        sa.Column("id", ID, nullable=False),
        sa.Column("exception_id", ID, nullable=False),
        sa.Column("at", MOMENT, nullable=False),
        sa.Column("author_id", ID, nullable=True),
        sa.Column("author", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("values", sa.JSON(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["exception_id"],
            [f"{table}.id"],
            name=f"fk_{notes}_exception_id_{table}",
        ),
        _staff(notes, "author_id"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{notes}"),
    )
    op.create_index(f"ix_{notes}_exception_id", notes, ["exception_id"])
    closes = "period_closes"
    op.create_table(
        closes,
        sa.Column("id", ID, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("closed_by", ID, nullable=True),
        sa.Column("closed_by_name", sa.String(length=254), nullable=False),
        sa.Column("closed_at", MOMENT, nullable=False),
        sa.Column("reopened_by", ID, nullable=True),
        sa.Column("reopened_at", MOMENT, nullable=True),
        sa.Column("reopen_reason", sa.Text(), nullable=True),
        _staff(closes, "closed_by"),
        _staff(closes, "reopened_by"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{closes}"),
    )
    still_closed = sa.text("reopened_at IS NULL")
    op.create_index(
        "uq_period_closes_one_closed",
        closes,
        ["month", "currency"],
        unique=True,
        sqlite_where=still_closed,
        postgresql_where=still_closed,
    )

    plants = "sandbox_plants"
    op.create_table(
        plants,
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", _codes(PLANTS, "kind", 24), nullable=False),
        sa.Column("payment_id", ID, nullable=True),
        sa.Column("amount", ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=f"fk_{plants}_payment_id_payments"
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{plants}"),
    )


def downgrade() -> None:
    op.drop_table("sandbox_plants")
    op.drop_index("uq_period_closes_one_closed", table_name="period_closes")
    op.drop_table("period_closes")
    op.drop_index(
        "ix_exception_notes_exception_id",
        table_name="exception_notes",
    )
    op.drop_table("exception_notes")
    op.drop_index("ix_reconciliation_exceptions_owner_id", table_name="reconciliation_exceptions")
    op.drop_index("ix_reconciliation_exceptions_month", table_name="reconciliation_exceptions")
    op.drop_table("reconciliation_exceptions")
