"""Payments through a gateway, where their money went, the gateway events handled, and
the inbox of events received and not yet settled."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UtcDateTime, codes, utcnow


class PaymentStatus(StrEnum):
    """A payment's status: created, pending, unknown (open); succeeded, failed, voided,
    mismatched (closed). Mismatched: the gateway reported success for another amount or
    currency than the payment's; it never counts as paid, and finance reviews it."""

    CREATED = "created"
    PENDING = "pending"
    UNKNOWN = "unknown"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    VOIDED = "voided"
    MISMATCHED = "mismatched"


OPEN_PAYMENT_STATUSES = (PaymentStatus.CREATED, PaymentStatus.PENDING, PaymentStatus.UNKNOWN)

# What a succeeded payment is shown as once money was taken back from it (not stored: the
# status stays succeeded, and ``refunded`` and ``disputed`` say how much).
TAKEN_BACK_DISPUTED = "disputed"
TAKEN_BACK_REFUNDED = "refunded"
TAKEN_BACK_PARTLY_REFUNDED = "partly_refunded"


class Payment(Base):
    """A payment through a gateway; it counts only once the gateway confirms it.

    At most one open payment per case, purpose and plan: a double click or a second tab
    resumes it rather than starting another charge.
    """

    __tablename__ = "payments"
    __table_args__ = (
        Index(
            "uq_payments_one_open",
            "case_id",
            "purpose",
            text("coalesce(plan_id, 0)"),
            unique=True,
            sqlite_where=text("status IN ('created', 'pending', 'unknown')"),
            postgresql_where=text("status IN ('created', 'pending', 'unknown')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(24))  # installment, arrears, partial
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PaymentStatus] = mapped_column(
        codes(PaymentStatus, name="status", length=16), default=PaymentStatus.CREATED
    )
    gateway: Mapped[str] = mapped_column(String(16))
    # Charged by the autopay run to a saved card (``AutopayAttempt``), not paid by hand.
    automatic: Mapped[bool] = mapped_column(default=False, server_default=false())
    gateway_reference: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # When we closed it unpaid: the sweeper makes sure its intent is dead for a week.
    voided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Money taken back after the payment succeeded: refunded in all, and held by a
    # dispute that is open or was lost. What stays allocated is amount less both.
    refunded: Mapped[int] = mapped_column(default=0, server_default="0")
    disputed: Mapped[int] = mapped_column(default=0, server_default="0")

    @property
    def kept(self) -> int:
        """What of the payment is still ours."""
        return self.amount - self.refunded - self.disputed

    @property
    def shown_status(self) -> str:
        """The status a person is shown: a succeeded payment that money was taken back
        from says so (disputed, refunded, partly refunded) rather than "succeeded"."""
        if self.status != PaymentStatus.SUCCEEDED:
            return self.status
        if self.disputed:
            return TAKEN_BACK_DISPUTED
        if self.refunded >= self.amount:
            return TAKEN_BACK_REFUNDED
        if self.refunded:
            return TAKEN_BACK_PARTLY_REFUNDED
        return self.status


class AllocationCause(StrEnum):
    """What moved the money an allocation records: the payment's success (and what a won
    dispute returns, allocated as new money is, is ``dispute`` too), a refund, or a
    dispute. The general-ledger journals post each against its own account: clearing,
    refunds payable, disputed funds."""

    PAYMENT = "payment"
    REFUND = "refund"
    DISPUTE = "dispute"


class Allocation(Base):
    """Where part of a confirmed payment went: a charge, an installment's interest or
    principal, or a credit. A payment's allocations always sum to what it kept: a refund
    or a dispute adds negative ones, a won dispute positive ones again.

    ``booked_at`` is when it was booked (the payment's confirmation, the refund, the
    dispute's outcome): the day the general-ledger journals post it on."""

    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    target: Mapped[str] = mapped_column(String(16))  # penalty, fee, interest, principal, credit
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("loan_charges.id"))
    installment_id: Mapped[int | None] = mapped_column(ForeignKey("loan_installments.id"))
    amount: Mapped[int]
    booked_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    cause: Mapped[AllocationCause] = mapped_column(
        codes(AllocationCause, name="cause", length=16),
        default=AllocationCause.PAYMENT,
        server_default=AllocationCause.PAYMENT.value,
    )


class EventOutcome(StrEnum):
    """What a gateway says happened to a payment (``portal.payments.events.Outcome``)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # One attempt failed (a declined card), but the checkout can still be paid: Stripe
    # keeps the intent open for another card, so the payment stays open too.
    DECLINED = "declined"
    REFUNDED = "refunded"
    DISPUTED = "disputed"


class ProcessedEvent(Base):
    """A gateway event already handled: written in the same transaction as its work."""

    __tablename__ = "processed_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("gateway", "event_id"),)


class WebhookInbox(Base):
    """A verified gateway event, recorded when it was acknowledged and settled afterwards
    by a job (``portal.payments.inbox``). One row per event, whatever the redeliveries.

    ``settled_at`` is empty until the event has gone through ``events.handle``; a row
    left empty for long is an event still waiting (a refund before its payment's
    success, ``attempts`` counting the tries) or one whose job was lost, which the
    sweeper settles."""

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        UniqueConstraint("gateway", "event_id"),
        # The sweeper's question: what is still unsettled, oldest first.
        Index(
            "ix_webhook_inbox_unsettled",
            "received_at",
            sqlite_where=text("settled_at IS NULL"),
            postgresql_where=text("settled_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(128))
    reference: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[EventOutcome] = mapped_column(codes(EventOutcome, name="outcome", length=16))
    # Minor units as the gateway reported them (a running total for a refund).
    amount: Mapped[int] = mapped_column(default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(16), default="", server_default="")
    # What else the event said that is kept besides the ledger's effect: a dispute's
    # details (``portal.payments.disputes.DisputeFacts``), None for anything else.
    details: Mapped[dict[str, object] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")


class DisputeStatus(StrEnum):
    """A dispute's status, Stripe's own codes
    (https://docs.stripe.com/api/disputes/object#dispute_object-status): an inquiry
    (``warning_*``: no money taken yet) or a chargeback waiting for evidence, under the
    bank's review, then won or lost (``prevented``: stopped before it became one)."""

    WARNING_NEEDS_RESPONSE = "warning_needs_response"
    WARNING_UNDER_REVIEW = "warning_under_review"
    WARNING_CLOSED = "warning_closed"
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"
    PREVENTED = "prevented"


# The statuses in which the lender can still send evidence.
ANSWERABLE_DISPUTE_STATUSES = (DisputeStatus.WARNING_NEEDS_RESPONSE, DisputeStatus.NEEDS_RESPONSE)
# The statuses after which nothing more happens to a dispute.
CLOSED_DISPUTE_STATUSES = (
    DisputeStatus.WARNING_CLOSED,
    DisputeStatus.WON,
    DisputeStatus.LOST,
    DisputeStatus.PREVENTED,
)


class Dispute(Base):
    """A cardholder's dispute of a payment, as the gateway reports it (kept current from
    its events by ``portal.payments.disputes``), and the evidence finance sent.

    The ledger's side (the money held while it is open or lost) is the payment's
    ``disputed``; this row is what finance works: reason, amount, the gateway's dispute
    fee (``fee`` in ``fee_currency``'s minor units, what the journals book as a cost),
    the date evidence is due, and the evidence as sent, when and by whom. ``last_event_at``
    is the time of the newest event applied: an older one, arriving late, never takes
    the row back."""

    __tablename__ = "disputes"
    __table_args__ = (UniqueConstraint("gateway", "reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway: Mapped[str] = mapped_column(String(16))
    # The gateway's id of the dispute (Stripe's ``dp_...``).
    reference: Mapped[str] = mapped_column(String(128))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    # The payment's reference at the gateway (the PaymentIntent), and the charge disputed.
    payment_reference: Mapped[str] = mapped_column(String(128))
    charge_reference: Mapped[str | None] = mapped_column(String(128))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # Stripe's reason code (fraudulent, product_not_received, ...), kept as sent.
    reason: Mapped[str] = mapped_column(String(40))
    status: Mapped[DisputeStatus] = mapped_column(codes(DisputeStatus, name="status", length=24))
    fee: Mapped[int] = mapped_column(default=0, server_default="0")
    fee_currency: Mapped[str] = mapped_column(String(3), default="", server_default="")
    evidence_due_by: Mapped[datetime | None] = mapped_column(UtcDateTime())
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_event_at: Mapped[datetime] = mapped_column(UtcDateTime())
    evidence: Mapped[dict[str, str] | None] = mapped_column(JSON)
    evidence_submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    evidence_submitted_by: Mapped[str | None] = mapped_column(String(254))

    @property
    def answerable(self) -> bool:
        """True while evidence can still be sent (the due date aside)."""
        return self.status in ANSWERABLE_DISPUTE_STATUSES and self.evidence_submitted_at is None

    @property
    def closed(self) -> bool:
        """True once the dispute is decided (or the inquiry closed)."""
        return self.status in CLOSED_DISPUTE_STATUSES
