"""What each agent achieved over a period of month pairs: the cases they owned and worked,
the contact they made, the promises they took, the offers they made and how many a
supervisor approved, and the plans borrowers accepted from their offers with the money on
them.

Definitions (``docs/reporting.md``, "Agents"); a period's months are those of its month
pairs (``cells.period_months``):

- **Agent**: a staff member; every active member with the agent role is listed (zeros
  included), and any other member with a figure (a supervisor who made an offer, a
  member deactivated since). Work recorded under a name no staff account has (``system``,
  a former agent's address) is nobody's here.
- **Owned**: the cases the member owned at the period's last month-end (or the latest
  counted before it), as the month-end history holds them (``CaseMonthEnd.owner_id``:
  cases not resolved), sliced by the case as it stood then; None when none is counted.
  Counted once per month-end into ``book_cells`` (``count_owned``).
- **Worked**: per month, the cases on which the member recorded any work (each case
  once per member and month): a contact logged (``ContactAttempt.agent``: calls made or
  taken, messages and letters), a promise taken (``Promise.made_by``), an offer made
  (``Offer.created_by``), a callback booked (``Callback.requested_by``), or an action on
  the case the audit log records that changes something (``WORK_ACTIONS``; reading a
  case, revealing personal data, assigning it and contacts the gate refused are not
  work). Over a period, the sum of its months: case-months. Counted per month into
  ``work_cells`` (``count_worked``), members matched when counted.
- **Offers**: made in the period's months (``Offer.created_at``), by the member; of those,
  *within authority* (the engine judged the terms within an agent's authority) and
  *beyond authority* (they needed a supervisor); *approved* (beyond authority and
  approved, by a supervisor or by the maker's own supervisor authority: ``decided_at``
  set and not declined), *declined*, and *accepted* by the borrower: as they stand when
  their month was last counted (``offer_cells``, ``count_offers``), which the month-end
  step repeats while the month holds an offer still open (``unsettled_offers``).
- **Attempts, right-party contacts, inbound**: as ``portal.reporting.contact`` counts
  them, of the rows the member logged.
- **Promises**: as ``portal.reporting.promises`` counts them, of those the member took.
- **Plans arranged**: the plans accepted in the period (as ``arrangements`` counts them:
  canceled plans left out) from an offer the member made (``Plan.offer_id``), by how they
  stand; **money on them**, per currency (minor units, never summed across currencies):
  the plans' totals (what the borrowers agreed to pay) and what has been paid on their
  installments so far.
- **Slice**: the case's slice of each month (its row at the month's first month-end,
  ``cells.month_slices``), for the work, offers, contact (the contact's cells), promises
  and plans (the promises' and plans' cells); *owned* by its row at the month-end counted.

The reader sums the cells in eight statements whatever the number of agents; ``only``
(a staff id) reads that member's figures alone, for an agent's own page.
The counters replace one month's cells each and do not commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Table, delete, func, insert, literal, select, union
from sqlalchemy.orm import Session

from portal.models import (
    OPEN_OFFER_STATUSES,
    AuditEntry,
    BookCell,
    Callback,
    CaseMonthEnd,
    ContactAttempt,
    ContactCell,
    Offer,
    OfferCell,
    OfferStatus,
    PlanCell,
    Promise,
    PromiseCell,
    StaffMember,
    WorkCell,
)
from portal.reporting.arrangements import OUTCOMES, PlanTally
from portal.reporting.cells import Database, days_of, in_period, month_bounds, month_slices
from portal.reporting.portfolio import Slice
from portal.reporting.promises import PromiseTally
from portal.reporting.slices import WHOLE_BOOK
from portal.reporting.snapshots import SLICES, rows_at

# The audit log's actions that count as working a case: each changes something on it.
WORK_ACTIONS = (
    "call.log",
    "promise.create",
    "letter.print",
    "message.send",
    "message.schedule",
    "optout.record",
    "optout.lift",
    "offer.create",
    "offer.withdraw",
    "offer.approve",
    "offer.decline",
    "hold.place",
    "hold.end",
    "dispute.propose",
    "dispute.send_back",
    "dispute.sign_off",
    "evidence.add",
    "flag.clear",
    "callback.cancel",
    "borrower.jurisdiction",
)
AGENT_ROLE = "agent"

BOOK = cast(Table, BookCell.__table__)
WORK = cast(Table, WorkCell.__table__)
OFFERS = cast(Table, OfferCell.__table__)
PLAN_CELLS = cast(Table, PlanCell.__table__)
CONTACT_CELLS = cast(Table, ContactCell.__table__)
PROMISE_CELLS = cast(Table, PromiseCell.__table__)
# An offer decided and not declined: approved (beyond an agent's authority, by a
# supervisor; within a supervisor's own, by its maker).
APPROVED = Offer.decided_at.is_not(None) & (Offer.status != OfferStatus.DECLINED)


@dataclass(frozen=True)
class OfferTally:
    """The offers one member made in the period, and how they went."""

    made: int = 0
    within_authority: int = 0
    beyond_authority: int = 0
    approved: int = 0
    declined: int = 0
    accepted: int = 0

    def __add__(self, other: OfferTally) -> OfferTally:
        return OfferTally(*(getattr(self, name) + getattr(other, name) for name in OFFER_FIGURES))

    def as_json(self) -> dict[str, int]:
        """Every count by name."""
        return {name: getattr(self, name) for name in OFFER_FIGURES}


OFFER_FIGURES = (
    "made",
    "within_authority",
    "beyond_authority",
    "approved",
    "declined",
    "accepted",
)


@dataclass(frozen=True)
class ArrangedMoney:
    """The plans one member arranged in one currency: how many, their totals and what
    has been paid on them (minor units)."""

    currency: str
    plans: int
    total: int
    paid: int

    def as_json(self) -> dict[str, object]:
        """Amounts as integers in minor units of ``currency``."""
        return {
            "currency": self.currency,
            "plans": self.plans,
            "total": self.total,
            "paid": self.paid,
        }


@dataclass(frozen=True)
class AgentFigures:
    """One member's figures (see the module's docstring)."""

    staff_id: int
    email: str
    name: str
    owned: int | None = None
    worked: int = 0
    attempts: int = 0
    right_party_contacts: int = 0
    inbound: int = 0
    promises: PromiseTally = field(default_factory=PromiseTally)
    offers: OfferTally = field(default_factory=OfferTally)
    plans: PlanTally = field(default_factory=PlanTally)
    # By currency, in code order.
    money: tuple[ArrangedMoney, ...] = ()

    def as_json(self) -> dict[str, object]:
        """The member (id, email, name) and every figure."""
        return {
            "staff_id": self.staff_id,
            "email": self.email,
            "name": self.name,
            "owned": self.owned,
            "worked": self.worked,
            "attempts": self.attempts,
            "right_party_contacts": self.right_party_contacts,
            "inbound": self.inbound,
            "promises": self.promises.as_json(),
            "offers": self.offers.as_json(),
            "plans": self.plans.as_json(),
            "money": [row.as_json() for row in self.money],
        }


@dataclass(frozen=True)
class Agents:
    """The period's figures by agent (see the module's docstring)."""

    # The period's days: from the day after its first month-end to its last month-end.
    first: date
    last: date
    chosen: Slice
    # The month-end *owned* is read at (None: none counted by then).
    owned_at: date | None
    # By name, then id.
    rows: tuple[AgentFigures, ...]

    def of(self, staff_id: int) -> AgentFigures | None:
        """One member's row, if listed."""
        return next((row for row in self.rows if row.staff_id == staff_id), None)

    def as_json(self) -> dict[str, object]:
        """``agents``: the month-end owned cases were read at, and each member's figures."""
        return {
            "agents": {
                "owned_at": self.owned_at.isoformat() if self.owned_at else None,
                "rows": [row.as_json() for row in self.rows],
            }
        }


def agents(
    db: Session,
    first: date,
    last: date,
    chosen: Slice = WHOLE_BOOK,
    *,
    only: int | None = None,
) -> Agents:
    """Each agent's figures over the month pairs from ``first`` to ``last`` (their first
    month-ends), summed from the months' cells, on the cases of the slice ``chosen``; with
    ``only``, that staff member's alone (see the module's docstring)."""
    staff_query = select(
        StaffMember.id, StaffMember.email, StaffMember.name, StaffMember.roles, StaffMember.active
    )
    if only is not None:
        staff_query = staff_query.where(StaffMember.id == only)
    members = {row[0]: row for row in db.execute(staff_query)}
    by_email = {row[1]: row[0] for row in members.values()}
    first_day, through = days_of(first, last)
    found: dict[int, dict[str, Any]] = defaultdict(dict)
    owned_at: date | None = db.scalar(
        select(func.max(BOOK.c.month_end)).where(BOOK.c.month_end <= through)
    )
    if owned_at is not None:
        for staff_id, number in _owned(db, owned_at, chosen, only):
            found[staff_id]["owned"] = int(number)
    for staff_id, number in _worked(db, first, last, chosen, only):
        found[staff_id]["worked"] = int(number)
    _offered(db, first, last, chosen, by_email, found)
    _contacts(db, first, last, chosen, by_email, found)
    _promised(db, first, last, chosen, by_email, found)
    _arranged(db, first, last, chosen, by_email, found)
    rows = []
    for staff_id, (_, email, name, roles, active) in members.items():
        figures = found.get(staff_id)
        is_agent = active and AGENT_ROLE in str(roles).split(",")
        if figures is None and not is_agent:
            continue
        row = AgentFigures(staff_id, email, name, owned=0 if owned_at is not None else None)
        rows.append(replace(row, **(figures or {})))
    rows.sort(key=lambda row: (row.name, row.staff_id))
    # The period's days, as ``book.days_of`` names them.
    return Agents(first_day, through, chosen, owned_at, tuple(rows))


def _owned(db: Session, month_end: date, chosen: Slice, only: int | None) -> Any:
    query = (
        select(BOOK.c.owner_id, func.sum(BOOK.c.cases))
        .where(
            BOOK.c.month_end == month_end,
            BOOK.c.owner_id.is_not(None),
            *chosen.conditions(BOOK),
        )
        .group_by(BOOK.c.owner_id)
    )
    if only is not None:
        query = query.where(BOOK.c.owner_id == only)
    return db.execute(query)


def _worked(db: Session, first: date, last: date, chosen: Slice, only: int | None) -> Any:
    """The case-months each member worked in the period's months."""
    query = (
        select(WORK.c.staff_id, func.sum(WORK.c.cases))
        .where(*in_period(WORK, first, last, chosen))
        .group_by(WORK.c.staff_id)
    )
    if only is not None:
        query = query.where(WORK.c.staff_id == only)
    return db.execute(query)


def _offered(
    db: Session,
    first: date,
    last: date,
    chosen: Slice,
    by_email: Mapping[str, int],
    found: dict[int, dict[str, Any]],
) -> None:
    columns = OFFERS.c
    rows = db.execute(
        select(
            columns.created_by,
            columns.authority,
            columns.status,
            columns.approved,
            func.sum(columns.offers),
        )
        .where(*in_period(OFFERS, first, last, chosen), columns.created_by.in_(list(by_email)))
        .group_by(columns.created_by, columns.authority, columns.status, columns.approved)
    )
    for made_by, authority, status, was_approved, number in rows:
        number = int(number)
        beyond = authority != AGENT_ROLE
        counted = OfferTally(
            made=number,
            within_authority=0 if beyond else number,
            beyond_authority=number if beyond else 0,
            approved=number if beyond and was_approved else 0,
            declined=number if status == OfferStatus.DECLINED else 0,
            accepted=number if status == OfferStatus.ACCEPTED else 0,
        )
        figures = found[by_email[made_by]]
        figures["offers"] = figures.get("offers", OfferTally()) + counted


def _contacts(
    db: Session,
    first: date,
    last: date,
    chosen: Slice,
    by_email: Mapping[str, int],
    found: dict[int, dict[str, Any]],
) -> None:
    """The attempts, right-party contacts (inbound calls answered included, as Contact
    counts them) and inbound calls each member logged, from the contact's cells."""
    cells = CONTACT_CELLS.c
    rows = db.execute(
        select(cells.agent, cells.inbound, func.sum(cells.attempts), func.sum(cells.connected))
        .where(*in_period(CONTACT_CELLS, first, last, chosen), cells.agent.in_(list(by_email)))
        .group_by(cells.agent, cells.inbound)
    )
    for agent, called_in, number, connected in rows:
        figures = found[by_email[agent]]
        key = "inbound" if called_in else "attempts"
        figures[key] = figures.get(key, 0) + int(number)
        figures["right_party_contacts"] = figures.get("right_party_contacts", 0) + int(connected)


def _promised(
    db: Session,
    first: date,
    last: date,
    chosen: Slice,
    by_email: Mapping[str, int],
    found: dict[int, dict[str, Any]],
) -> None:
    """The promises each member took, by how they stand, from the promises' cells."""
    cells = PROMISE_CELLS.c
    rows = db.execute(
        select(cells.made_by, cells.status, func.sum(cells.promises))
        .where(*in_period(PROMISE_CELLS, first, last, chosen), cells.made_by.in_(list(by_email)))
        .group_by(cells.made_by, cells.status)
    )
    for made_by, status, number in rows:
        figures = found[by_email[made_by]]
        figures["promises"] = figures.get("promises", PromiseTally()) + PromiseTally(
            **{str(status): int(number)}
        )


def _arranged(
    db: Session,
    first: date,
    last: date,
    chosen: Slice,
    by_email: Mapping[str, int],
    found: dict[int, dict[str, Any]],
) -> None:
    """The plans accepted from each member's offers, by how they stand, and the money on
    them per currency, from the plans' cells."""
    cells = PLAN_CELLS.c
    rows = db.execute(
        select(
            cells.arranged_by,
            cells.status,
            cells.currency,
            func.sum(cells.plans),
            func.sum(cells.total),
            func.sum(cells.paid),
        )
        .where(*in_period(PLAN_CELLS, first, last, chosen), cells.arranged_by.in_(list(by_email)))
        .group_by(cells.arranged_by, cells.status, cells.currency)
    )
    money: dict[int, dict[str, tuple[int, int, int]]] = defaultdict(dict)
    for made_by, status, currency, number, total, paid_on in rows:
        staff_id = by_email[made_by]
        figures = found[staff_id]
        figures["plans"] = figures.get("plans", PlanTally()).with_outcome(
            OUTCOMES[str(status)], int(number)
        )
        plans_of, total_of, paid_of = money[staff_id].get(currency, (0, 0, 0))
        # PostgreSQL sums integers as numeric (Decimal): whole numbers, made ints.
        money[staff_id][currency] = (
            plans_of + int(number),
            total_of + int(total),
            paid_of + int(paid_on),
        )
    for staff_id, currencies in money.items():
        found[staff_id]["money"] = tuple(
            ArrangedMoney(currency, *currencies[currency]) for currency in sorted(currencies)
        )


# The month-end step: each month's cells ------------------------------------------------


def count_owned(db: Database, month_end: date, zone: ZoneInfo) -> int:
    """The book's cells at ``month_end``, replaced: its month-end rows (the cases not
    resolved then) counted by their own slices, the owner among them. One GROUP BY over
    one month-end; ``zone`` is not needed (the rows are the month-end's). Returns the
    cells written."""
    db.execute(delete(BOOK).where(BOOK.c.month_end == month_end))
    slices = [getattr(CaseMonthEnd, name) for name in SLICES]
    grouped = (
        select(literal(month_end, Date), *slices, func.count())
        .where(CaseMonthEnd.month_end == month_end)
        .group_by(*slices)
    )
    db.execute(insert(BOOK).from_select(["month_end", *SLICES, "cases"], grouped))
    return rows_at(db, BOOK, month_end)


def count_worked(db: Database, month_end: date, zone: ZoneInfo) -> int:
    """The work cells of the month ending ``month_end`` (in ``zone``), replaced: per
    member and slice of the month (``month_slices``), the cases the member worked in it,
    each once. Members are matched as the month is counted: by email (contacts, promises,
    offers, callbacks) or id (the audit log). Returns the cells written."""
    db.execute(delete(WORK).where(WORK.c.month_end == month_end))
    work = _work(*month_bounds(month_end, zone)).cte("work")
    slices = month_slices(month_end, select(work.c.case_id).distinct())
    columns = [slices.c[name] for name in SLICES]
    grouped = (
        select(literal(month_end, Date), *columns, work.c.staff_id, func.count())
        .join_from(work, slices, slices.c.case_id == work.c.case_id)
        .group_by(*columns, work.c.staff_id)
    )
    db.execute(insert(WORK).from_select(["month_end", *SLICES, "staff_id", "cases"], grouped))
    return rows_at(db, WORK, month_end)


def _work(start: datetime, end: datetime) -> Any:
    """Each case and member with work recorded from ``start`` to ``end`` (UTC instants),
    once: the union of what members recorded (contacts, promises, offers, callbacks by
    address; the audit log by id)."""

    def by_address(case_id: Any, who: Any, at: Any) -> Any:
        return (
            select(case_id.label("case_id"), StaffMember.id.label("staff_id"))
            .join(StaffMember, StaffMember.email == who)
            .where(at >= start, at < end)
        )

    audited = select(
        AuditEntry.case_id.label("case_id"), AuditEntry.staff_id.label("staff_id")
    ).where(
        AuditEntry.at >= start,
        AuditEntry.at < end,
        AuditEntry.action.in_(WORK_ACTIONS),
        AuditEntry.case_id.is_not(None),
        AuditEntry.staff_id.is_not(None),
    )
    return union(
        by_address(ContactAttempt.case_id, ContactAttempt.agent, ContactAttempt.at),
        by_address(Promise.case_id, Promise.made_by, Promise.made_at),
        by_address(Offer.case_id, Offer.created_by, Offer.created_at),
        by_address(Callback.case_id, Callback.requested_by, Callback.requested_at),
        audited,
    )


def count_offers(db: Database, month_end: date, zone: ZoneInfo) -> int:
    """The offer cells of the month ending ``month_end`` (in ``zone``), replaced: the
    offers made in it, per slice of the month, maker, authority, status and whether they
    were approved, as they stand now. Returns the cells written."""
    db.execute(delete(OFFERS).where(OFFERS.c.month_end == month_end))
    start, end = month_bounds(month_end, zone)
    made = (Offer.created_at >= start, Offer.created_at < end)
    slices = month_slices(month_end, select(Offer.case_id).where(*made).distinct())
    columns = [slices.c[name] for name in SLICES]
    how = (Offer.created_by, Offer.authority, Offer.status, APPROVED)
    grouped = (
        select(literal(month_end, Date), *columns, *how, func.count())
        .join(slices, slices.c.case_id == Offer.case_id)
        .where(*made)
        .group_by(*columns, *how)
    )
    names = ["month_end", *SLICES, "created_by", "authority", "status", "approved", "offers"]
    db.execute(insert(OFFERS).from_select(names, grouped))
    return rows_at(db, OFFERS, month_end)


def unsettled_offers(db: Database) -> date | None:
    """The oldest month whose cells hold an offer still open (awaiting a supervisor or
    the borrower) when last counted; None: none. Read from the cells, not the offers: an
    offer decided since its month was counted is no longer open, but its month's cells
    must be counted again to say so."""
    oldest: date | None = db.execute(
        select(func.min(OFFERS.c.month_end)).where(OFFERS.c.status.in_(OPEN_OFFER_STATUSES))
    ).scalar_one()
    return oldest


__all__ = [
    "WORK_ACTIONS",
    "AgentFigures",
    "Agents",
    "ArrangedMoney",
    "OfferTally",
    "agents",
    "count_offers",
    "count_owned",
    "count_worked",
    "unsettled_offers",
]
