"""Promises to pay: those made in a period, and how they stand, in total and by the
agent who took them; summed from the month's cells (``promise_cells``) the month-end step
counts (``count_promises``).

Definitions (``docs/reporting.md``, "Promises"):

- **Made**: every promise whose ``made_at`` falls in the month, days of the finance
  timezone. A period is its months' sum.
- **Kept, partly kept, broken, open, superseded**: the promise's status as it stood when
  its month was last counted (``portal.contact.promises`` decides it: kept, paid in full
  by its date; partly kept, some paid; broken, nothing paid; open, not decided yet;
  superseded, replaced by a newer promise before its date). A month holding an open
  promise is counted again at each month-end.
- **Slice**: the case's at the month's start (``cells.month_slices``).
- **By agent**: ``Promise.made_by``, the staff member's email, with their id and name
  (None for a name no staff account has, such as ``system``).
- **Promised, paid**: the amounts promised and what counted toward them, by currency
  (minor units), never summed across currencies.

The reader reads the cells (and the staff, for names) only, one statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Date, Table, delete, func, insert, literal, select
from sqlalchemy.orm import Session

from portal.models import Promise, PromiseCell, PromiseStatus, StaffMember
from portal.reporting.cells import (
    days_of,
    in_period,
    month_bounds,
    month_slices,
)
from portal.reporting.portfolio import Slice
from portal.reporting.slices import WHOLE_BOOK
from portal.reporting.snapshots import SLICES, rows_at

CELLS = cast(Table, PromiseCell.__table__)
STATUSES = tuple(status.value for status in PromiseStatus)


@dataclass(frozen=True)
class PromiseTally:
    """Promises made, by how they stand."""

    open: int = 0
    kept: int = 0
    partly_kept: int = 0
    broken: int = 0
    superseded: int = 0

    @property
    def made(self) -> int:
        """Every promise counted."""
        return self.open + self.kept + self.partly_kept + self.broken + self.superseded

    def __add__(self, other: PromiseTally) -> PromiseTally:
        return PromiseTally(*(getattr(self, name) + getattr(other, name) for name in STATUSES))

    def as_json(self) -> dict[str, int]:
        """made, kept, partly_kept, broken, open, superseded."""
        return {
            "made": self.made,
            "kept": self.kept,
            "partly_kept": self.partly_kept,
            "broken": self.broken,
            "open": self.open,
            "superseded": self.superseded,
        }


@dataclass(frozen=True)
class AgentPromises:
    """The promises one agent took."""

    made_by: str
    staff_id: int | None
    name: str | None
    tally: PromiseTally


@dataclass(frozen=True)
class PromisedAmount:
    """What the promises in one currency promised, and what was paid toward them."""

    currency: str
    promised: int
    paid: int


@dataclass(frozen=True)
class Promises:
    """The period's promises (see the module's docstring)."""

    first: date
    last: date
    chosen: Slice
    total: PromiseTally
    # By ``made_by``, in order.
    by_agent: tuple[AgentPromises, ...]
    # By currency, in code order.
    amounts: tuple[PromisedAmount, ...]

    def as_json(self) -> dict[str, object]:
        """``promises``: made, kept, partly_kept, broken, open, superseded, ``by_agent``
        (each agent's email, staff id, name and counts) and ``amounts`` by currency."""
        return {
            "promises": {
                **self.total.as_json(),
                "by_agent": [
                    {
                        "made_by": agent.made_by,
                        "staff_id": agent.staff_id,
                        "name": agent.name,
                        **agent.tally.as_json(),
                    }
                    for agent in self.by_agent
                ],
                "amounts": [
                    {"currency": row.currency, "promised": row.promised, "paid": row.paid}
                    for row in self.amounts
                ],
            }
        }


def count_promises(db: Session | Connection, month_end: date, zone: ZoneInfo) -> int:
    """The cells of the promises made in the month ending ``month_end`` (days in
    ``zone``), replaced: per slice at the month's start, taker and status as it stands,
    how many, what they promised and what counted toward them. Set-based: one
    ``INSERT … SELECT`` over the month's promises. Returns the cells written."""
    db.execute(delete(CELLS).where(CELLS.c.month_end == month_end))
    start, end = month_bounds(month_end, zone)
    made = (Promise.made_at >= start, Promise.made_at < end)
    slices = month_slices(month_end, select(Promise.case_id).where(*made).distinct())
    keys = [slices.c[name] for name in SLICES]
    grouped = (
        select(
            literal(month_end, Date),
            *keys,
            Promise.made_by,
            Promise.status,
            func.count(),
            func.sum(Promise.amount),
            func.sum(Promise.paid),
        )
        .select_from(Promise)
        .join(slices, slices.c.case_id == Promise.case_id)
        .where(*made)
        .group_by(*keys, Promise.made_by, Promise.status)
    )
    columns = ["month_end", *SLICES, "made_by", "status", "promises", "promised", "paid"]
    db.execute(insert(CELLS).from_select(columns, grouped))
    return rows_at(db, CELLS, month_end)


def unsettled(db: Session | Connection) -> date | None:
    """The month-end of the oldest month whose cells hold a promise open when last
    counted (None: none). Read from the cells, not the promises: a promise decided since
    must still have its month counted again to show it."""
    oldest = db.execute(
        select(func.min(CELLS.c.month_end)).where(CELLS.c.status == PromiseStatus.OPEN)
    )
    return oldest.scalar_one_or_none()


def promises(db: Session, first: date, last: date, chosen: Slice = WHOLE_BOOK) -> Promises:
    """The promises made in the months of the pairs ``first`` to ``last`` (their first
    month-ends: ``cells.period_months``) on the cases of the slice ``chosen``, summed from
    the cells (see the module's docstring)."""
    columns = CELLS.c
    rows = db.execute(
        select(
            columns.made_by,
            StaffMember.id,
            StaffMember.name,
            columns.status,
            columns.currency,
            func.sum(columns.promises),
            func.sum(columns.promised),
            func.sum(columns.paid),
        )
        .outerjoin(StaffMember, StaffMember.email == columns.made_by)
        .where(*in_period(CELLS, first, last, chosen))
        .group_by(
            columns.made_by, StaffMember.id, StaffMember.name, columns.status, columns.currency
        )
    )
    agents: dict[str, tuple[int | None, str | None, PromiseTally]] = {}
    amounts: dict[str, tuple[int, int]] = {}
    for made_by, staff_id, name, status, currency, number, promised, paid in rows:
        # A promise stored without a taker is nobody's (the cells keep it NULL-safe).
        taker = made_by or ""
        counted = PromiseTally(**{str(status): int(number)})
        before = agents.get(taker, (staff_id, name, PromiseTally()))[2]
        agents[taker] = (staff_id, name, before + counted)
        promised_before, paid_before = amounts.get(currency, (0, 0))
        # PostgreSQL sums integers as numeric (Decimal): whole numbers, made ints.
        amounts[currency] = (promised_before + int(promised), paid_before + int(paid))
    by_agent = tuple(AgentPromises(made_by, *agents[made_by]) for made_by in sorted(agents))
    return Promises(
        *days_of(first, last),
        chosen,
        sum((agent.tally for agent in by_agent), PromiseTally()),
        by_agent,
        tuple(PromisedAmount(c, *amounts[c]) for c in sorted(amounts)),
    )
