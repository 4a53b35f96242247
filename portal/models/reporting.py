"""The book's history for reporting: each case as it stood at each month-end, and the
month-to-month transitions counted from it (``portal.reporting``).

Written set-based by the daily work on a month's last day (``portal.reporting.snapshots``),
or backfilled from the case events for months before it ran; never changed by hand.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from negotiation import Stage
from negotiation.contact import Channel, ContactRefusal
from negotiation.portfolio import Bucket
from portal.models.base import Base, codes
from portal.models.cases import CaseStatus


class CaseMonthEnd(Base):
    """A case at a month-end: its slices (product, currency, market, stage, owner, team,
    strategy arm), its days past due and bucket on the borrower's calendar, and its
    overdue amount and outstanding balance (minor units of the loan's currency).

    Every case not yet resolved at the month-end has a row (a case resolved that month
    has its last row at the month-end before). ``exact``: written by the daily work on
    the day itself; False for a month backfilled from the case events
    (``docs/reporting.md`` says how exact those are)."""

    __tablename__ = "case_month_ends"
    __table_args__ = (Index("ix_case_month_ends_case_id", "case_id", "month_end"),)

    month_end: Mapped[date] = mapped_column(Date, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    product: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    market: Mapped[str] = mapped_column(String(5))
    stage: Mapped[Stage] = mapped_column(codes(Stage, name="stage", length=16))
    status: Mapped[CaseStatus] = mapped_column(codes(CaseStatus, name="status", length=16))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    # "experiment/arm" of the case's latest experiment assignment, or NULL.
    arm: Mapped[str | None] = mapped_column(String(97))
    days_past_due: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[Bucket] = mapped_column(codes(Bucket, name="bucket", length=16))
    overdue: Mapped[int] = mapped_column(BigInteger)
    balance: Mapped[int] = mapped_column(BigInteger)
    # The due date of the oldest installment unpaid at the month-end: the entry cohort.
    overdue_since: Mapped[date | None] = mapped_column(Date)
    exact: Mapped[bool] = mapped_column(Boolean)


class SliceCounts:
    """The slice columns of a table of counts (``portal.reporting.snapshots.SLICES``): the
    product, currency, market, stage, owner, team and strategy arm the counted cases had
    (no foreign keys: a count outlives the staff member or team it names)."""

    product: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    market: Mapped[str] = mapped_column(String(5))
    stage: Mapped[Stage] = mapped_column(codes(Stage, name="stage", length=16))
    owner_id: Mapped[int | None] = mapped_column(Integer)
    team_id: Mapped[int | None] = mapped_column(Integer)
    arm: Mapped[str | None] = mapped_column(String(97))


class PortfolioTransition(SliceCounts, Base):
    """The month-to-month transitions, counted once when the later month-end is written:
    the cases (and their overdue amount at the first month-end) of one slice that went
    from one bucket at ``month_end`` to another (or closed) at the next month-end. The
    dashboard sums these rather than joining two months of a million cases."""

    __tablename__ = "portfolio_transitions"
    __table_args__ = (Index("ix_portfolio_transitions_month_end", "month_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The first of the two month-ends.
    month_end: Mapped[date] = mapped_column(Date)
    next_month_end: Mapped[date] = mapped_column(Date)
    from_bucket: Mapped[Bucket] = mapped_column(codes(Bucket, name="from_bucket", length=16))
    to_bucket: Mapped[Bucket] = mapped_column(codes(Bucket, name="to_bucket", length=16))
    cases: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)


class ArrearsEntry(Base):
    """A case entering arrears at a month-end: overdue then, and not at the month-end
    before (current, or not in the book; a case first seen overdue when the history
    begins counts only if it fell overdue during that month). Its row in
    ``case_month_ends`` at ``month_end`` holds its slices and its overdue amount at
    entry. Written with the month-end (``portal.reporting.snapshots.count_entries``); read
    by ``portal.reporting.liquidation`` through the cells counted from it."""

    __tablename__ = "arrears_entries"
    __table_args__ = (Index("ix_arrears_entries_case_id", "case_id", "month_end"),)

    # The month-end at which the case was first seen overdue: its entry cohort.
    month_end: Mapped[date] = mapped_column(Date, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)


class LiquidationCell(SliceCounts, Base):
    """An entry cohort ``months`` months after its entry (``month_end``, the cohort's
    month-end plus ``months``), for one slice of the cases that entered (the slice as it
    stood at entry): how many cases, what they owed overdue at entry, and what they paid
    from the month after entry through ``month_end`` (``collected``), and of it what
    counts toward the overdue at entry, each case's capped at its own (``recovered``).
    Minor units of ``currency``. Counted once when ``month_end`` is written; the
    dashboard sums these rather than reading a million cases' payments."""

    __tablename__ = "liquidation_cells"
    __table_args__ = (Index("ix_liquidation_cells_cohort", "cohort", "month_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The entry month-end (the cohort), and the month-end these figures are as of.
    cohort: Mapped[date] = mapped_column(Date)
    month_end: Mapped[date] = mapped_column(Date)
    months: Mapped[int] = mapped_column(Integer)
    cases: Mapped[int] = mapped_column(Integer)
    overdue: Mapped[int] = mapped_column(BigInteger)
    collected: Mapped[int] = mapped_column(BigInteger)
    recovered: Mapped[int] = mapped_column(BigInteger)


class ContactCell(SliceCounts, Base):
    """The contact log of one month (``month_end``) and slice (the case's at the month's
    start, ``portal.reporting.cells``), per channel, agent (``ContactAttempt.agent`` as
    stored: a staff email or ``system``) and direction (``inbound``: the borrower called
    us): the rows logged (``attempts``) and of them the right-party contacts
    (``connected``). Counted by the month-end step (``portal.reporting.contact``); the
    contact and the agents' figures sum these."""

    __tablename__ = "contact_cells"
    __table_args__ = (Index("ix_contact_cells_month_end", "month_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month_end: Mapped[date] = mapped_column(Date)
    channel: Mapped[Channel] = mapped_column(codes(Channel, name="channel", length=8))
    # NULL-safe: the log requires an agent, but a count is not the place to refuse one.
    agent: Mapped[str | None] = mapped_column(String(254))
    inbound: Mapped[bool] = mapped_column(Boolean)
    attempts: Mapped[int] = mapped_column(Integer)
    connected: Mapped[int] = mapped_column(Integer)


class ContactCaseMonth(SliceCounts, Base):
    """The cases with any row in the contact log in one month (``month_end``), per slice
    at the month's start: the case-months the contact's per-case figures divide by. A
    table of its own, not rows of ``contact_cells``: a case counts once whatever its
    channels and agents, so the count cannot be summed from those cells, and a reader of
    them (the agents') need not tell two kinds of row apart."""

    __tablename__ = "contact_case_months"
    __table_args__ = (Index("ix_contact_case_months_month_end", "month_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month_end: Mapped[date] = mapped_column(Date)
    cases: Mapped[int] = mapped_column(Integer)


class ContactRefusalCell(SliceCounts, Base):
    """The contacts the contact gate refused in one month (``month_end``), per slice at
    the month's start of the case refused: under each gate reason given (``reason``), and
    once each whatever their reasons (``reason`` NULL: the total, which the reasons' rows
    do not add up to when a refusal gave several)."""

    __tablename__ = "contact_refusal_cells"
    __table_args__ = (Index("ix_contact_refusal_cells_month_end", "month_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month_end: Mapped[date] = mapped_column(Date)
    reason: Mapped[ContactRefusal | None] = mapped_column(
        codes(ContactRefusal, name="reason", length=32)
    )
    refusals: Mapped[int] = mapped_column(Integer)


class ContactOptOutCell(SliceCounts, Base):
    """The opt-outs recorded in one month (``month_end``), per channel and slice: each
    borrower's under one case of theirs (``portal.reporting.contact`` says which), so the
    whole book counts each opt-out once."""

    __tablename__ = "contact_opt_out_cells"
    __table_args__ = (Index("ix_contact_opt_out_cells_month_end", "month_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month_end: Mapped[date] = mapped_column(Date)
    channel: Mapped[Channel] = mapped_column(codes(Channel, name="channel", length=8))
    opt_outs: Mapped[int] = mapped_column(Integer)
