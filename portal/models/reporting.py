"""The book's history for reporting: each case as it stood at each month-end, and the
month-to-month transitions counted from it (``portal.reporting``).

Written set-based by the daily work on a month's last day (``portal.reporting.snapshots``),
or backfilled from the case events for months before it ran; never changed by hand.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from negotiation import Stage
from negotiation.contact import Channel, ContactRefusal
from negotiation.policy import PlanKind
from negotiation.portfolio import Bucket
from portal.models.arrangements import OfferStatus, PlanStatus
from portal.models.base import Base, codes
from portal.models.cases import CaseStatus
from portal.models.contact import PromiseStatus


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


class BookCell(SliceCounts, Base):
    """The book at a month-end, by slice (each case's own row at ``month_end``, the owner
    among its slices): how many cases were not resolved then. Counted once by the
    month-end step (``portal.reporting.agents.count_owned``); the agents' *owned* sums
    these rather than grouping a million month-end rows per request."""

    __tablename__ = "book_cells"
    __table_args__ = (Index("ix_book_cells_month_end", "month_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month_end: Mapped[date] = mapped_column(Date)
    cases: Mapped[int] = mapped_column(Integer)


class WorkCell(SliceCounts, Base):
    """The cases one staff member worked in the month ending ``month_end``, by slice (the
    case's slice of that month, ``portal.reporting.cells.month_slices``): each case once
    per member and month. Counted by the month-end step
    (``portal.reporting.agents.count_worked``); summed over a period they are
    case-months."""

    __tablename__ = "work_cells"
    __table_args__ = (Index("ix_work_cells_month_end", "month_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month_end: Mapped[date] = mapped_column(Date)
    # The member, as resolved when counted (no foreign key: a count outlives the account).
    staff_id: Mapped[int] = mapped_column(Integer)
    cases: Mapped[int] = mapped_column(Integer)


class OfferCell(SliceCounts, Base):
    """The offers made in the month ending ``month_end``, by slice (the case's slice of
    that month), maker (``Offer.created_by``, an email), the authority the terms needed,
    and how they stand when counted: their status and whether a decision approved them.
    Counted by the month-end step, and again while a month holds an offer still open
    (``portal.reporting.agents.count_offers``, ``unsettled_offers``)."""

    __tablename__ = "offer_cells"
    __table_args__ = (Index("ix_offer_cells_month_end", "month_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month_end: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(254))
    # As ``Offer.authority``: agent (within an agent's authority) or supervisor.
    authority: Mapped[str] = mapped_column(String(16))
    status: Mapped[OfferStatus] = mapped_column(codes(OfferStatus, name="status", length=24))
    # Decided and not declined: approved by a supervisor (or by its maker's authority).
    approved: Mapped[bool] = mapped_column(Boolean)
    offers: Mapped[int] = mapped_column(Integer)


class FunnelStep(StrEnum):
    """The portal funnel's steps, in order (``portal.reporting.funnel`` defines each)."""

    REMINDER_SENT = "reminder_sent"
    LINK_OPENED = "link_opened"
    VERIFIED = "verified"
    OPTIONS_SEEN = "options_seen"
    PLAN_REVIEWED = "plan_reviewed"
    ACCEPTED = "accepted"
    FIRST_PAYMENT = "first_payment"


class FunnelDevice(StrEnum):
    """The device class a case is counted under in the funnel: the borrower's device
    (``portal.reporting.funnel.DeviceClass``), or unknown when no step recorded one."""

    PHONE = "phone"
    TABLET = "tablet"
    DESKTOP = "desktop"
    UNKNOWN = "unknown"


class FunnelCell(SliceCounts, Base):
    """The portal funnel of one month (``month_end``), one slice (the case's at the
    month's start, ``portal.reporting.cells.month_slices``), one language and one device
    class: the cases that reached ``step`` in the month. Each case is in one cell per
    step and month, so the cells add up to the month's totals. Counted by the month-end
    step (``portal.reporting.funnel.count_funnel``)."""

    __tablename__ = "funnel_cells"
    __table_args__ = (Index("ix_funnel_cells_month_end", "month_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month_end: Mapped[date] = mapped_column(Date)
    step: Mapped[FunnelStep] = mapped_column(codes(FunnelStep, name="step", length=16))
    # The borrower's locale, as ``Borrower.locale``.
    language: Mapped[str] = mapped_column(String(16))
    device: Mapped[FunnelDevice] = mapped_column(codes(FunnelDevice, name="device", length=16))
    cases: Mapped[int] = mapped_column(Integer)


class CureCell(SliceCounts, Base):
    """The cures of one month pair, counted at its second month-end (``month_end``), for
    one slice (the case's row at the first month-end): the cases overdue then and current
    at ``month_end`` (``cures``), and the contact log's rows on them dated in the month
    ending ``month_end``: outbound ``attempts`` and right-party contacts (``connected``).
    Counted by the month-end step (``portal.reporting.cures.count_cures``)."""

    __tablename__ = "cure_cells"
    __table_args__ = (Index("ix_cure_cells_month_end", "month_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month_end: Mapped[date] = mapped_column(Date)
    cures: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    connected: Mapped[int] = mapped_column(Integer)


class FirstPaymentChannel(StrEnum):
    """How a plan's first payment came (``portal.reporting.arrangements``): charged
    automatically (autopay), else the plan's origin: an agent's offer, or the portal."""

    PORTAL = "portal"
    AGENT_OFFER = "agent_offer"
    AUTOPAY = "autopay"


class PlanCell(SliceCounts, Base):
    """The plans accepted in the month ending ``month_end`` (canceled ones left out) of
    one slice (the case's at the month's start), kind, status as it stood when counted,
    first-payment channel and maker of the offer they came from (``arranged_by``, the
    offer's ``created_by``; NULL for a plan not from an offer): how many, and their
    discount, waiver, totals and what had been paid on their installments when counted.
    Money in minor units of the slice's ``currency``: a plan is always in its loan's
    currency (``portal.arrangements.agreement`` writes ``case.loan.currency``, and a loan's
    currency never changes), so no column of its own. Counted by the month-end step
    (``portal.reporting.arrangements.count_arrangements``), again while a month holds a
    plan still pending or active."""

    __tablename__ = "plan_cells"
    __table_args__ = (Index("ix_plan_cells_month_end", "month_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month_end: Mapped[date] = mapped_column(Date)
    kind: Mapped[PlanKind] = mapped_column(codes(PlanKind, name="kind", length=24))
    status: Mapped[PlanStatus] = mapped_column(codes(PlanStatus, name="status", length=16))
    channel: Mapped[FirstPaymentChannel] = mapped_column(
        codes(FirstPaymentChannel, name="channel", length=16)
    )
    arranged_by: Mapped[str | None] = mapped_column(String(254))
    plans: Mapped[int] = mapped_column(Integer)
    discount: Mapped[int] = mapped_column(BigInteger)
    waiver: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(BigInteger)


class PromiseCell(SliceCounts, Base):
    """The promises to pay made in the month ending ``month_end`` of one slice (the case's
    at the month's start), taker (``made_by``, as the promise stores it) and status as it
    stood when counted: how many, what they promised and what counted toward them. Money
    in minor units of the slice's ``currency``: a promise is always in its loan's currency
    (``portal.contact.promises`` writes ``case.loan.currency``). Counted by the month-end
    step (``portal.reporting.promises.count_promises``), again while a month holds an open
    promise."""

    __tablename__ = "promise_cells"
    __table_args__ = (Index("ix_promise_cells_month_end", "month_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month_end: Mapped[date] = mapped_column(Date)
    # NULL-safe: promises.made_by is NOT NULL today, but a cell must not fail the
    # month-end if a promise without a taker is ever stored.
    made_by: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[PromiseStatus] = mapped_column(codes(PromiseStatus, name="status", length=16))
    promises: Mapped[int] = mapped_column(Integer)
    promised: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(BigInteger)


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
