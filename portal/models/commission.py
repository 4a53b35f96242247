"""A partner agency's commission, entry by entry (``portal.agencies.commission``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UtcDateTime, codes, utcnow
from portal.models.payments import AllocationCause


class CommissionEntry(Base):
    """One movement of money on a placed case and what it did to the agency's commission:
    a payment confirmed while the case was placed (``cause`` payment), or a refund or a
    chargeback of one (refund, dispute; a won chargeback's return is a dispute too).

    Append-only: never updated nor deleted. ``allocation_id`` is the newest of the
    ledger's allocations the movement is made of (``moved`` is their sum, less any
    credit), unique, so booking again books nothing new. ``net_after`` and
    ``commission_after`` are the placement's running totals after it; ``commission`` is
    the difference booked (negative: a clawback), per ``negotiation.commission``."""

    __tablename__ = "commission_entries"
    __table_args__ = (Index("ix_commission_entries_agency_moved", "agency_id", "moved_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("agency_placements.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"), unique=True)
    cause: Mapped[AllocationCause] = mapped_column(codes(AllocationCause, name="cause", length=16))
    currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    moved: Mapped[int]
    net_after: Mapped[int]
    commission: Mapped[int]
    commission_after: Mapped[int]
    # When the money moved (the allocations' booking): the statement's month.
    moved_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
