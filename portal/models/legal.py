"""The legal track of a case (issue 19): its referral, the supervisor's approval, the
final notice and its deadline, then each milestone of the market's path with its date,
documents and costs, and who acted. Kept for good: a track stops or closes, it is never
deleted. The rules are ``negotiation.legal``; the service is ``portal.legal``.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from negotiation.legal import LegalCost, LegalMilestone
from portal.models.base import Base, UtcDateTime, codes


class LegalTrackStatus(StrEnum):
    """Where a track stands.

    - ``referred``: an agent referred the case; a supervisor has yet to approve it;
    - ``approved``: approved; the final notice has yet to be sent;
    - ``noticed``: the final notice is sent; until its deadline a payment or a plan stops
      the track;
    - ``active``: the deadline passed; milestones are recorded;
    - ``paused``: a plan agreed on the track is being kept; a broken plan resumes it;
    - ``stopped``: ended before its end (a payment or a plan before the deadline, the
      supervisor's refusal, or staff stopped it);
    - ``closed``: ended after its last step, or the debt was paid.
    """

    REFERRED = "referred"
    APPROVED = "approved"
    NOTICED = "noticed"
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"
    CLOSED = "closed"


# A track in one of these states is the case's live track (at most one per case).
LIVE_TRACK_STATUSES = (
    LegalTrackStatus.REFERRED,
    LegalTrackStatus.APPROVED,
    LegalTrackStatus.NOTICED,
    LegalTrackStatus.ACTIVE,
    LegalTrackStatus.PAUSED,
)


class TrackEnd(StrEnum):
    """Why a track stopped or closed."""

    PAYMENT = "payment"  # paid before the final notice's deadline
    PLAN = "plan"  # a plan accepted before the deadline
    REFUSED = "refused"  # the supervisor refused the referral
    STAFF = "staff"  # a supervisor or agent stopped it
    PAID = "paid"  # the debt is paid or settled
    COMPLETED = "completed"  # its last step was reached


class LegalDocumentKind(StrEnum):
    """A document kept with a track: the final notice, the draft 支付命令 application
    (聲請狀), the court's order or certificate, or another paper."""

    FINAL_NOTICE = "final_notice"
    PAYMENT_ORDER_APPLICATION = "payment_order_app"
    COURT_ORDER = "court_order"
    CERTIFICATE = "certificate"
    OTHER = "other"


LIVE_TRACK = "status IN ('referred', 'approved', 'noticed', 'active', 'paused')"


class LegalTrack(Base):
    """One case's legal track, from the agent's referral to its end."""

    __tablename__ = "legal_tracks"
    __table_args__ = (
        Index(
            "uq_legal_tracks_live",
            "case_id",
            unique=True,
            sqlite_where=text(LIVE_TRACK),
            postgresql_where=text(LIVE_TRACK),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    # The loan's market (TW, CN, HK): whose path the track follows.
    market: Mapped[str] = mapped_column(String(2))
    status: Mapped[LegalTrackStatus] = mapped_column(
        codes(LegalTrackStatus, name="status", length=16), default=LegalTrackStatus.REFERRED
    )
    referred_by_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    referred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    referral_note: Mapped[str] = mapped_column(Text, default="")
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    notice_sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    notice_sent_on: Mapped[date | None] = mapped_column(Date)
    deadline: Mapped[date | None] = mapped_column(Date, index=True)
    letter_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    notice_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(254))  # "system" or a staff email
    end: Mapped[TrackEnd | None] = mapped_column(codes(TrackEnd, name="end", length=16))
    end_note: Mapped[str | None] = mapped_column(Text)


class LegalStep(Base):
    """A milestone reached on a track: its date, who acted, and a note."""

    __tablename__ = "legal_steps"
    __table_args__ = (UniqueConstraint("track_id", "milestone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("legal_tracks.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    milestone: Mapped[LegalMilestone] = mapped_column(
        codes(LegalMilestone, name="milestone", length=24)
    )
    reached_on: Mapped[date] = mapped_column(Date)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str] = mapped_column(Text, default="")


class LegalCostEntry(Base):
    """A legal cost the lender incurred on a track, in minor units. ``charge_id`` is the
    loan charge that adds it to what the borrower owes, only where the policy says the
    market's law allows it; otherwise the lender bears it and it is only recorded."""

    __tablename__ = "legal_costs"

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("legal_tracks.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("legal_steps.id"))
    kind: Mapped[LegalCost] = mapped_column(codes(LegalCost, name="kind", length=16))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    incurred_on: Mapped[date] = mapped_column(Date)
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("loan_charges.id"))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LegalDocument(Base):
    """A document kept with a track or one of its steps, by kind and name (the file
    itself is generated from the case, ``portal.letters.legal``, or held by counsel)."""

    __tablename__ = "legal_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("legal_tracks.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("legal_steps.id"))
    kind: Mapped[LegalDocumentKind] = mapped_column(
        codes(LegalDocumentKind, name="kind", length=24)
    )
    name: Mapped[str] = mapped_column(String(200))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
