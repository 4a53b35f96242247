"""A loan's collection case, its timeline, and the days of case work done."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, Unmapped, mapped_column, relationship, unmapped_column

from negotiation.policy import Stage
from negotiation.snapshot import Hold
from portal.models.base import Base, UtcDateTime, codes, utcnow

if TYPE_CHECKING:
    from portal.models.loans import Loan


class CaseStatus(StrEnum):
    """Where a case stands: open (no plan in force), arranged (a plan is active), resolved
    (paid off or settled)."""

    OPEN = "open"
    ARRANGED = "arranged"
    RESOLVED = "resolved"


class Case(Base):
    """A loan's collection case: its stage, any hold, and whether a plan is active."""

    __tablename__ = "cases"
    __table_args__ = (
        # Carrying the borrower's zone and the loan (PostgreSQL): the queue counts a band
        # of days past due from the index alone, the case's copy of the zone deciding at
        # the band's edge (the loan for a case without a copy; migration 0014_qzone).
        Index(
            "ix_cases_overdue_since",
            "overdue_since",
            sqlite_where=text("overdue_since IS NOT NULL"),
            postgresql_where=text("overdue_since IS NOT NULL"),
            postgresql_include=["loan_id", "timezone"],
        ),
        # An owner's cases in the queue's order (most days past due first): My work's
        # top cases and Next case read it in order (migration 0014_mywork).
        Index("ix_cases_owner_overdue", "owner_id", "overdue_since", "id"),
        # The queue's overdue-amount filter and sort read the stored amount, a currency
        # at a time, and count from the index alone (the INCLUDE, on PostgreSQL); the few
        # cases outside their window are found by its ends (migrations 0014_queue1m and
        # 0014_queue1m_by_currency).
        Index(
            "ix_cases_arrears_by_currency",
            "arrears_currency",
            "arrears",
            postgresql_include=["overdue_since", "arrears_after", "arrears_until", "loan_id", "id"],
        ),
        Index("ix_cases_arrears_after", "arrears_after"),
        Index("ix_cases_arrears_until", "arrears_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), unique=True)
    status: Mapped[CaseStatus] = mapped_column(
        codes(CaseStatus, name="status", length=16), default=CaseStatus.OPEN
    )
    stage: Mapped[Stage] = mapped_column(
        codes(Stage, name="stage", length=16), default=Stage.CURRENT
    )
    hold: Mapped[Hold | None] = mapped_column(codes(Hold, name="hold", length=16))
    hold_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The due date of the oldest installment still unpaid once due, kept by the daily
    # work (``haohuan cases advance``); days past due are counted from it.
    overdue_since: Mapped[date | None] = mapped_column(Date)
    needs_agent: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # The latest contact attempt on any channel, kept by ``portal.contact.gate.record_attempt``
    # so the queue can filter and sort by it without reading the contact log.
    last_contact_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    # The staff member who works the case: given by the assignment rules
    # (``haohuan cases assign``) or by a supervisor, who pins it (the rules then leave it
    # until its owner is away or deactivated).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), index=True)
    owner_pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The overdue amount (minor units of the loan's currency) as last counted, holding for
    # the borrower's todays after ``arrears_after`` up to ``arrears_until`` (NULL: no
    # end); kept by ``portal.cases.arrears``, which the queue filters and sorts by. A new
    # case's window ended in 1900: its amount is counted until it is refreshed.
    # In the table, not on the object: written and read by SQL only (``Case.__table__.c``),
    # never loaded with a case nor written by its INSERT (the database's defaults).
    arrears: Unmapped[int] = unmapped_column(BigInteger, server_default=text("0"), nullable=False)
    # The loan's currency, copied with the amount (NULL until first counted): the queue's
    # currency filter and amount sort read it without joining the loans.
    arrears_currency: Unmapped[str | None] = unmapped_column(String(3))
    arrears_after: Unmapped[date | None] = unmapped_column(Date)
    arrears_until: Unmapped[date | None] = unmapped_column(
        Date, server_default=text("'1900-01-01'")
    )
    # The borrower's time zone, copied (``portal.cases.zones``: every flush that inserts a
    # case or changes a borrower's zone or a loan's borrower): the queue reads the
    # borrower's today at the edge of a window or a band of days from the case's own row.
    # NULL until copied: the queue then reads the borrower's (``zones.zone_of_case``).
    timezone: Unmapped[str | None] = unmapped_column(String(64))

    loan: Mapped[Loan] = relationship(back_populates="case")
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")


class CaseEvent(Base):
    """One entry of a case's append-only timeline."""

    __tablename__ = "case_events"
    # The contact strategy reads the day's events of a kind (a stage entered, a plan
    # broken) across every case (migration 0014_strategy).
    __table_args__ = (Index("ix_case_events_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(16))  # borrower, agent, system
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="events")


class AssignmentRule(Base):
    """A supervisor's rule giving open cases owners: a case matches when every condition
    set matches (stage, the borrower's language and time zone, the loan's currency, and
    the loan's principal in ``[min_amount, max_amount)`` of that currency's minor units).
    The first matching rule by ``priority`` (lowest first, then id) decides; its agents
    share its cases by capacity."""

    __tablename__ = "assignment_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    stage: Mapped[Stage | None] = mapped_column(codes(Stage, name="stage", length=16))
    locale: Mapped[str | None] = mapped_column(String(16))
    currency: Mapped[str | None] = mapped_column(String(3))
    timezone: Mapped[str | None] = mapped_column(String(64))
    min_amount: Mapped[int | None]
    max_amount: Mapped[int | None]
    # A team the rule also feeds: every active agent of the team, besides its own agents.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AssignmentRuleAgent(Base):
    """One of a rule's agents."""

    __tablename__ = "assignment_rule_agents"

    rule_id: Mapped[int] = mapped_column(ForeignKey("assignment_rules.id"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"), primary_key=True)


class LifecycleRun(Base):
    """One day of case work done: each day is worked once, in order, and re-running a
    day changes nothing."""

    __tablename__ = "lifecycle_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, unique=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class FlagReason(StrEnum):
    """Why a case asks for an agent: each is one open flag at most, cleared by an agent
    with a note once dealt with."""

    VERIFICATION_LOCKED = "verification_locked"  # too many wrong answers in a day
    PROMISE_BROKEN = "promise_broken"  # a promise to pay broken or only partly kept
    HOLD_PLACED = "hold_placed"  # a new dispute or hardship to review
    HOLD_REVIEW = "hold_review"  # a hold's review date or end is near
    HOLD_ENDED = "hold_ended"  # a hold ended by itself: review the case
    BORROWER_REQUEST = "borrower_request"  # the borrower sent something from the portal
    AGENT = "agent"  # raised by an agent or supervisor with a note
    LETTER_DUE = "letter_due"  # the contact strategy asks the owner to send a letter
    OTHER = "other"  # asked for before flags had reasons (migration 0014_flags)


class CaseFlag(Base):
    """A reason a case needs an agent, open until cleared (kept, never deleted).
    ``Case.needs_agent`` is true exactly while one is open (``portal.cases.flags``)."""

    __tablename__ = "case_flags"
    __table_args__ = (
        Index(
            "uq_case_flags_open",
            "case_id",
            "reason",
            unique=True,
            sqlite_where=text("cleared_at IS NULL"),
            postgresql_where=text("cleared_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reason: Mapped[FlagReason] = mapped_column(codes(FlagReason, name="reason", length=24))
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime())
    raised_by: Mapped[str] = mapped_column(String(254))  # staff email, "system", "borrower"
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cleared_by: Mapped[str | None] = mapped_column(String(254))
    clear_note: Mapped[str | None] = mapped_column(String(2000))
