"""Reconciliation runs against Stripe and their lines."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UtcDateTime, codes


class RunStatus(StrEnum):
    """How a reconciliation run ended."""

    COMPLETED = "completed"
    FAILED = "failed"


class ReconciliationRun(Base):
    """One comparison of Stripe's balance history and payouts with our payments, for
    the balance transactions created in ``[since, until)``."""

    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    since: Mapped[datetime] = mapped_column(UtcDateTime())
    until: Mapped[datetime] = mapped_column(UtcDateTime())
    started_by: Mapped[str] = mapped_column(String(254))  # a staff email, or "cli"
    # completed, or failed (Stripe could not be read; ``error`` says why, as a code of
    # ``portal.finance.reconcile.RunError``: never the exception's text)
    status: Mapped[RunStatus] = mapped_column(codes(RunStatus, name="status", length=16))
    error: Mapped[str | None] = mapped_column(Text)
    matched: Mapped[int] = mapped_column(default=0)
    missing_here: Mapped[int] = mapped_column(default=0)
    missing_at_stripe: Mapped[int] = mapped_column(default=0)
    amount_mismatches: Mapped[int] = mapped_column(default=0)
    payout_mismatches: Mapped[int] = mapped_column(default=0)

    items: Mapped[list[ReconciliationItem]] = relationship(
        back_populates="run", order_by="ReconciliationItem.id", cascade="all, delete-orphan"
    )

    @property
    def unmatched(self) -> int:
        """Everything that needs a person to look at it."""
        return (
            self.missing_here
            + self.missing_at_stripe
            + self.amount_mismatches
            + self.payout_mismatches
        )


class ReconciliationItem(Base):
    """One line of a reconciliation: a payment matched or not, or a payout checked."""

    __tablename__ = "reconciliation_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"), index=True)
    # matched, missing_here, missing_at_stripe, amount_mismatch, outside_window (ours is in
    # the period, Stripe's record of it just outside: not a problem), payout_ok,
    # payout_mismatch, payout_unchecked (a manual or failed payout: nothing to sum)
    kind: Mapped[str] = mapped_column(String(24))
    currency: Mapped[str] = mapped_column(String(3))
    # Stripe's type of the balance transaction (charge, refund, adjustment, ...): set on
    # exactly the lines of the period's balance history, so totals add each once.
    transaction_type: Mapped[str | None] = mapped_column(String(32))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    payment_intent: Mapped[str | None] = mapped_column(String(128))
    balance_transaction: Mapped[str | None] = mapped_column(String(128))
    payout: Mapped[str | None] = mapped_column(String(128))
    stripe_amount: Mapped[int | None]
    our_amount: Mapped[int | None]
    fee: Mapped[int] = mapped_column(default=0)
    net: Mapped[int | None]
    occurred_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # What the line says, as a code of ``portal.finance.reconcile.Note`` and the values
    # it is worded with (amounts in minor units, with their currency), worded in the
    # reader's language when shown. ``note`` is the English text of lines stored before.
    note_code: Mapped[str | None] = mapped_column(String(32))
    note_values: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(String(255))

    run: Mapped[ReconciliationRun] = relationship(back_populates="items")
