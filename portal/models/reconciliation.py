"""Reconciliation runs against Stripe and their lines, the exceptions finance works
from the lines that did not match, and the months closed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
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


class ExceptionStatus(StrEnum):
    """Where an exception stands: open and investigating need a person; resolved and
    written off are ends (a later run never reopens them)."""

    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    WRITTEN_OFF = "written_off"


# What still needs a person, and blocks closing the month the line falls in.
ACTIVE_EXCEPTION_STATUSES = (ExceptionStatus.OPEN, ExceptionStatus.INVESTIGATING)


class Resolution(StrEnum):
    """How an exception was brought to its end."""

    LINKED_TO_PAYMENT = "linked_to_payment"
    RECORDED_REFUND = "recorded_refund"
    RECORDED_PAYMENT = "recorded_payment"
    DUPLICATE = "duplicate"
    WRITTEN_OFF = "written_off"
    # Cleared by a later run that matched the same line (Stripe's record arrived late, or
    # ours was put right): no person's resolution, and nothing to move.
    MATCHED_LATER = "matched_later"


class ReconciliationException(Base):
    """One unmatched or mismatched reconciliation line, worked by finance to an end.

    One row per line's identity (``identity``: its kind, currency and Stripe's or our
    reference), not per run: the next run that finds the same line finds this row, moves
    ``item_id`` to its latest line, and leaves a resolved or written-off one as it is.
    ``month`` (YYYY-MM in the finance timezone) is the month the line falls in: the one
    whose close it blocks while open."""

    __tablename__ = "reconciliation_exceptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(128))
    month: Mapped[str] = mapped_column(String(7), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_items.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    stripe_amount: Mapped[int | None]
    our_amount: Mapped[int | None]
    status: Mapped[ExceptionStatus] = mapped_column(
        codes(ExceptionStatus, name="status", length=16), default=ExceptionStatus.OPEN
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), index=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    resolution: Mapped[Resolution | None] = mapped_column(
        codes(Resolution, name="resolution", length=24)
    )
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # A write-off: its amount (minor units of ``currency``), who asked and when, and, above
    # the approval limit, the second finance member who approved it.
    write_off_amount: Mapped[int | None]
    write_off_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    write_off_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    item: Mapped[ReconciliationItem] = relationship()
    notes: Mapped[list[ExceptionNote]] = relationship(
        back_populates="exception", order_by="ExceptionNote.id"
    )


class ExceptionNote(Base):
    """One step of an exception's history, appended, never changed: what happened
    (``action``, a code worded when shown, with its ``values``) and any text its author
    wrote."""

    __tablename__ = "exception_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    exception_id: Mapped[int] = mapped_column(
        ForeignKey("reconciliation_exceptions.id"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    author: Mapped[str] = mapped_column(String(254))  # a staff email, "cli" or "system"
    action: Mapped[str] = mapped_column(String(32))
    values: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    text: Mapped[str | None] = mapped_column(Text)

    exception: Mapped[ReconciliationException] = relationship(back_populates="notes")


class PeriodClose(Base):
    """A month's books closed (``month`` YYYY-MM in the finance timezone; ``currency``
    empty for every currency), and, if it was reopened since, by whom and why. A month is
    closed while a row of it has no ``reopened_at``."""

    __tablename__ = "period_closes"
    __table_args__ = (
        Index(
            "uq_period_closes_one_closed",
            "month",
            "currency",
            unique=True,
            sqlite_where=text("reopened_at IS NULL"),
            postgresql_where=text("reopened_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7))
    currency: Mapped[str] = mapped_column(String(3), default="")
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    closed_by_name: Mapped[str] = mapped_column(String(254))  # a staff email, or "cli"
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reopened_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    reopened_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reopen_reason: Mapped[str | None] = mapped_column(Text)


class PlantKind(StrEnum):
    """A discrepancy planted in the sandbox's books for the demo to reconcile: what the
    sandbox, standing in for Stripe, reports differently from our payments."""

    STRAY_CHARGE = "stray_charge"  # a charge for no payment of ours
    UNRECORDED_REFUND = "unrecorded_refund"  # a refund of the payment we never recorded
    NOT_AT_GATEWAY = "not_at_gateway"  # our succeeded payment the sandbox never took
    OTHER_AMOUNT = "other_amount"  # the payment taken for another amount


class SandboxPlant(Base):
    """One planted discrepancy of the sandbox's books (``portal.finance.sandbox_reader``):
    ``amount`` is the stray charge, Stripe's refunded total, or the amount taken, in
    minor units of ``currency``; ``at`` when the sandbox says it happened."""

    __tablename__ = "sandbox_plants"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[PlantKind] = mapped_column(codes(PlantKind, name="kind", length=24))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    amount: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
