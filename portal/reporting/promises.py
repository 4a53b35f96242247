"""Promises to pay: those made in a period, and how they stand, in total and by the
agent who took them.

Definitions (``docs/reporting.md``, "Promises"):

- **Made**: every promise whose ``made_at`` falls from the first to the last day of the
  period, days of the finance timezone, both included.
- **Kept, partly kept, broken, open, superseded**: the promise's status now
  (``portal.contact.promises`` decides it: kept, paid in full by its date; partly kept,
  some paid; broken, nothing paid; open, not decided yet; superseded, replaced by a
  newer promise before its date).
- **By agent**: ``Promise.made_by``, the staff member's email, with their id and name
  (None for a name no staff account has, such as ``system``).
- **Promised, paid**: the amounts promised and what counted toward them, by currency
  (minor units), never summed across currencies.

Reads only, one statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.finance.reports import day_bounds
from portal.models import Promise, PromiseStatus, StaffMember
from portal.reporting.portfolio import Slice
from portal.reporting.slices import WHOLE_BOOK, narrowed

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


def promises(
    db: Session, first: date, last: date, zone: ZoneInfo, chosen: Slice = WHOLE_BOOK
) -> Promises:
    """The promises made from ``first`` to ``last`` (days in ``zone``, both included) on
    the cases of the slice ``chosen`` (see the module's docstring)."""
    start, end = day_bounds(first, last, zone)
    rows = db.execute(
        narrowed(
            select(
                Promise.made_by,
                StaffMember.id,
                StaffMember.name,
                Promise.status,
                Promise.currency,
                func.count(),
                func.sum(Promise.amount),
                func.sum(Promise.paid),
            ),
            Promise.case_id,
            chosen,
        )
        .outerjoin(StaffMember, StaffMember.email == Promise.made_by)
        .where(Promise.made_at >= start, Promise.made_at < end)
        .group_by(
            Promise.made_by, StaffMember.id, StaffMember.name, Promise.status, Promise.currency
        )
    )
    agents: dict[str, tuple[int | None, str | None, PromiseTally]] = {}
    amounts: dict[str, tuple[int, int]] = {}
    for made_by, staff_id, name, status, currency, number, promised, paid in rows:
        counted = PromiseTally(**{str(status): number})
        before = agents.get(made_by, (staff_id, name, PromiseTally()))[2]
        agents[made_by] = (staff_id, name, before + counted)
        promised_before, paid_before = amounts.get(currency, (0, 0))
        # PostgreSQL sums integers as numeric (Decimal): whole numbers, made ints.
        amounts[currency] = (promised_before + int(promised), paid_before + int(paid))
    by_agent = tuple(AgentPromises(made_by, *agents[made_by]) for made_by in sorted(agents))
    return Promises(
        first,
        last,
        chosen,
        sum((agent.tally for agent in by_agent), PromiseTally()),
        by_agent,
        tuple(PromisedAmount(c, *amounts[c]) for c in sorted(amounts)),
    )
