"""Home visits (上門拜訪, issue 19): one row a visit, from its proposal to its record, and
the photos of the notice left behind. Kept for good: a visit is cancelled, never deleted.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UtcDateTime, codes
from portal.models.holds import EvidenceType


class VisitStatus(StrEnum):
    """Proposed by an agent; approved by a supervisor; noticed (the written notice went
    out); scheduled (a moment and two visitors set); visited (the borrower was met) or
    nobody home; or cancelled (withdrawn, a hold, a plan, a payment)."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    NOTICED = "noticed"
    SCHEDULED = "scheduled"
    VISITED = "visited"
    NOBODY_HOME = "nobody_home"
    CANCELLED = "cancelled"


OPEN_VISIT_STATUSES = (
    VisitStatus.PROPOSED,
    VisitStatus.APPROVED,
    VisitStatus.NOTICED,
    VisitStatus.SCHEDULED,
)


class HomeVisit(Base):
    """One home visit on a case. At most one is open on a case at a time."""

    __tablename__ = "home_visits"
    __table_args__ = (
        Index(
            "uq_home_visits_open",
            "case_id",
            unique=True,
            sqlite_where=text("status IN ('proposed', 'approved', 'noticed', 'scheduled')"),
            postgresql_where=text("status IN ('proposed', 'approved', 'noticed', 'scheduled')"),
        ),
        CheckConstraint("visitor_one_id <> visitor_two_id", name="two_visitors"),
        CheckConstraint("approved_by_id IS NULL OR approved_by_id <> proposed_by_id", name="maker"),
        CheckConstraint("window_first IS NULL OR window_first <= window_last", name="window"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[VisitStatus] = mapped_column(
        codes(VisitStatus, name="status", length=16), default=VisitStatus.PROPOSED
    )
    # The borrower asked for the visit (said on a call): no notice is owed them.
    agreed: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The notice's date range (the borrower's local dates) and the message that said it.
    window_first: Mapped[date | None] = mapped_column(Date)
    window_last: Mapped[date | None] = mapped_column(Date)
    notice_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    noticed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    scheduled_for: Mapped[datetime | None] = mapped_column(UtcDateTime())
    scheduled_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    # The two visitors (staff of the field role) and the number of the identification
    # each carries on the visit.
    visitor_one_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), index=True)
    visitor_one_card: Mapped[str | None] = mapped_column(String(32))
    visitor_two_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), index=True)
    visitor_two_card: Mapped[str | None] = mapped_column(String(32))
    # The record, by one of the two visitors.
    visited_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    said: Mapped[str | None] = mapped_column(Text)
    promise_id: Mapped[int | None] = mapped_column(ForeignKey("promises.id"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    # Where the visit was recorded: only when the visitor ticked their consent.
    gps_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cancelled_by: Mapped[str | None] = mapped_column(String(254))  # "system" or an email
    cancel_reason: Mapped[str | None] = mapped_column(String(32))


class VisitPhoto(Base):
    """A photo of the visit notice left at the door (never of the home or people), kept
    outside the web root under a random name as a dispute's evidence is."""

    __tablename__ = "visit_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("home_visits.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[EvidenceType] = mapped_column(
        codes(EvidenceType, name="content_type", length=32)
    )
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
