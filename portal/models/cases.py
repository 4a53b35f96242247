"""A loan's collection case, its timeline, and the days of case work done."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
        Index(
            "ix_cases_overdue_since",
            "overdue_since",
            sqlite_where=text("overdue_since IS NOT NULL"),
            postgresql_where=text("overdue_since IS NOT NULL"),
        ),
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

    loan: Mapped[Loan] = relationship(back_populates="case")
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")


class CaseEvent(Base):
    """One entry of a case's append-only timeline."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(16))  # borrower, agent, system
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="events")


class LifecycleRun(Base):
    """One day of case work done: each day is worked once, in order, and re-running a
    day changes nothing."""

    __tablename__ = "lifecycle_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, unique=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
