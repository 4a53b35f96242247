"""A case's holds, one row each, kept for good: a hold ends, it is never deleted.

``Case.hold`` stays the one column every rule reads (the contact gate, the daily work's
stages and penalties, the queue): it names the kind of the hold that stands, or is null.
A ``CaseHold`` row is that hold's own record: why, until when, who ended it and how, and
for a dispute the resolution an agent proposed and the supervisor who signed it off.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from negotiation.snapshot import Hold
from portal.models.base import Base, UtcDateTime, codes


class HoldStatus(StrEnum):
    """Active (it stands), proposed (a dispute's resolution waits for a supervisor's
    sign-off; the hold still stands), ended."""

    ACTIVE = "active"
    PROPOSED = "proposed"
    ENDED = "ended"


class DisputeReason(StrEnum):
    """Why the borrower disputes the debt (with their own words beside it)."""

    NOT_MINE = "not_mine"
    ALREADY_PAID = "already_paid"
    WRONG_AMOUNT = "wrong_amount"
    FRAUD = "fraud"
    OTHER = "other"


class HoldOutcome(StrEnum):
    """How a hold ended: a breathing space ran out (expired), a plan was agreed, an agent
    lifted it, or a dispute was resolved (upheld or rejected)."""

    EXPIRED = "expired"
    PLAN_AGREED = "plan_agreed"
    LIFTED = "lifted"
    UPHELD = "upheld"
    REJECTED = "rejected"


class DisputeResolution(StrEnum):
    """What an agent proposes for a dispute and a supervisor signs off."""

    UPHELD = "upheld"
    REJECTED = "rejected"


class CaseHold(Base):
    """One hold on a case, from its placing to its end (at most one stands per case)."""

    __tablename__ = "case_holds"
    __table_args__ = (
        Index(
            "uq_case_holds_standing",
            "case_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[Hold] = mapped_column(codes(Hold, name="kind", length=16))
    status: Mapped[HoldStatus] = mapped_column(
        codes(HoldStatus, name="status", length=16), default=HoldStatus.ACTIVE
    )
    reason: Mapped[DisputeReason | None] = mapped_column(
        codes(DisputeReason, name="reason", length=16)
    )
    details: Mapped[str] = mapped_column(Text, default="")
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    placed_by: Mapped[str] = mapped_column(String(254))  # "borrower" or a staff email
    # A hardship's last day of breathing space; a dispute's review-by date.
    ends_on: Mapped[date | None] = mapped_column(Date, index=True)
    review_by: Mapped[date | None] = mapped_column(Date)
    proposed: Mapped[DisputeResolution | None] = mapped_column(
        codes(DisputeResolution, name="proposed", length=16)
    )
    proposed_note: Mapped[str | None] = mapped_column(Text)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    proposed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    signed_off_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    outcome: Mapped[HoldOutcome | None] = mapped_column(
        codes(HoldOutcome, name="outcome", length=16)
    )
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(254))  # "system" or a staff email
    end_note: Mapped[str | None] = mapped_column(Text)


class EvidenceType(StrEnum):
    """The kinds of evidence a borrower may send, known by their first bytes."""

    JPEG = "image/jpeg"
    PNG = "image/png"
    PDF = "application/pdf"


class DisputeEvidence(Base):
    """A photo or PDF a borrower sent with their dispute. The file is stored outside the
    web root under a random name (``stored_name``); only staff with the case open are
    given it, and each read is audited."""

    __tablename__ = "dispute_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    hold_id: Mapped[int] = mapped_column(ForeignKey("case_holds.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[EvidenceType] = mapped_column(
        codes(EvidenceType, name="content_type", length=32)
    )
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AdjustmentKind(StrEnum):
    """What an upheld dispute changes in the books: a charge waived (whole or part), an
    installment's amount owed reduced, or the whole balance written off (the case closes
    and collection on the loan stops for good)."""

    WAIVE_CHARGE = "waive_charge"
    REDUCE_INSTALLMENT = "reduce_installment"
    WRITE_OFF = "write_off"


class AdjustmentStatus(StrEnum):
    """Proposed with the resolution (nothing has moved yet), applied by the supervisor's
    sign-off, or withdrawn when the resolution was sent back (kept, as proposed)."""

    PROPOSED = "proposed"
    APPLIED = "applied"
    WITHDRAWN = "withdrawn"


class HoldAdjustment(Base):
    """One line of an upheld dispute's change to the books: which hold, what (a charge,
    or an installment's interest or principal), how much (minor units, never more than
    was owed then), who proposed it and why, and who applied it and when.

    Applying a line raises the item's ``waived`` column by exactly ``amount``: what was
    owed (``amount``/``*_due``) is never edited, so the books show both what was owed
    and what was forgiven, and ``portal.payments.ledger.check`` holds every applied line
    against the item's waived total."""

    __tablename__ = "hold_adjustments"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hold_id: Mapped[int] = mapped_column(ForeignKey("case_holds.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[AdjustmentKind] = mapped_column(codes(AdjustmentKind, name="kind", length=24))
    target: Mapped[str] = mapped_column(String(16))  # penalty, fee, interest, principal
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("loan_charges.id"))
    installment_id: Mapped[int | None] = mapped_column(ForeignKey("loan_installments.id"))
    amount: Mapped[int]
    status: Mapped[AdjustmentStatus] = mapped_column(
        codes(AdjustmentStatus, name="status", length=16), default=AdjustmentStatus.PROPOSED
    )
    note: Mapped[str] = mapped_column(Text, default="")  # why: the agent's proposal note
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    applied_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
