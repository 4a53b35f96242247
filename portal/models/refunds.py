"""Refunds finance makes from the console (``portal.finance.refunds``): asked for, approved
by a second finance member above the limit, sent to the gateway once, and settled through
the same path as a refund the gateway reports (``portal.payments.events.handle``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UtcDateTime, codes, utcnow


class RefundStatus(StrEnum):
    """Where a console refund is: waiting for a second person; approved (or needing none)
    and being sent; done at the gateway (its ledger settled); refused by the gateway
    (``failure_code`` says why); or cancelled by a finance member before it was sent."""

    AWAITING_APPROVAL = "awaiting_approval"
    SENDING = "sending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A refund not yet finished: its amount is spoken for, so no other refund may take it.
IN_FLIGHT_REFUND_STATUSES = (RefundStatus.AWAITING_APPROVAL, RefundStatus.SENDING)


class RefundReason(StrEnum):
    """Why finance refunds (a code; the free note says the rest)."""

    DUPLICATE = "duplicate"  # the borrower paid the same thing twice
    OVERPAYMENT = "overpayment"  # more than was owed
    BORROWER_REQUEST = "borrower_request"  # the borrower asked, and it was agreed
    PAID_IN_ERROR = "paid_in_error"  # a payment on the wrong loan, or by mistake
    GOODWILL = "goodwill"  # a complaint settled in the borrower's favour
    OTHER = "other"  # the note says why


class Refund(Base):
    """One refund of (part of) a succeeded payment, asked for in the finance console.

    ``idempotency_key`` is drawn when the form is shown: the same form sent twice finds
    the same row, and the gateway is always called with it, so a retry, a double click or
    a second tab never refunds twice."""

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[int]  # minor units of ``currency``, the payment's
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[RefundReason] = mapped_column(codes(RefundReason, name="reason", length=24))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[RefundStatus] = mapped_column(
        codes(RefundStatus, name="status", length=24), index=True
    )
    requested_by: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # The second finance member who approved (or cancelled) it, and when.
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    gateway_refund_id: Mapped[str | None] = mapped_column(String(128))
    # The gateway's code when it refused the refund (``failed``).
    failure_code: Mapped[str | None] = mapped_column(String(64))
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
