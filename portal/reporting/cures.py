"""Contacts per cure: how much contact the cases that cured took.

Definitions (``docs/reporting.md``, "Contacts per cure"):

- **A cure**: a case overdue (past current) at a pair's first month-end and current at
  its second, as the roll rates count it (``Matrix.cured``), over the same month pairs
  and slice (the case's at the first month-end). A case that cured in two pairs counts
  twice.
- **Its contact**: the contact log's rows on the case dated in the month it cured, from
  the day after the first month-end to the second month-end (days of the finance time
  zone, both included): outbound *attempts* (any channel, by anyone) and *right-party
  contacts* (connected, as ``portal.reporting.contact`` counts them).
- **Contacts per cure**: those attempts over the cures (and right-party contacts over
  the cures), exact fractions; None when nothing cured.

The month-end step counts them once per month pair, when its second month-end is
written (``count_cures``, ``CureCell``: per slice at the first month-end, the cures and
their contact in the month); a report sums the pairs' cells (``contacts_per_cure``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Date,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.orm import Session, aliased

from negotiation.portfolio import Bucket
from portal.models import CaseMonthEnd, ContactAttempt, CureCell
from portal.reporting.cells import in_period, month_bounds
from portal.reporting.portfolio import Slice, share_text
from portal.reporting.slices import WHOLE_BOOK, share
from portal.reporting.snapshots import SLICES, previous_month_end, rows_at

CELLS = cast(Table, CureCell.__table__)


@dataclass(frozen=True)
class ContactsPerCure:
    """The cures of the period's month pairs and the contact they took; ``first`` and
    ``last``, the pairs' first month-ends."""

    first: date
    last: date
    chosen: Slice
    cures: int
    attempts: int
    right_party_contacts: int

    @property
    def attempts_per_cure(self) -> Fraction | None:
        """Attempts over cures."""
        return share(self.attempts, self.cures)

    @property
    def right_party_contacts_per_cure(self) -> Fraction | None:
        """Right-party contacts over cures."""
        return share(self.right_party_contacts, self.cures)

    def as_json(self) -> dict[str, object]:
        """``contacts_per_cure``: cures, attempts, right-party contacts and the two
        ratios (decimal strings of six places, or null)."""
        return {
            "contacts_per_cure": {
                "cures": self.cures,
                "attempts": self.attempts,
                "right_party_contacts": self.right_party_contacts,
                "attempts_per_cure": share_text(self.attempts_per_cure),
                "right_party_contacts_per_cure": share_text(self.right_party_contacts_per_cure),
            }
        }


def count_cures(db: Session | Connection, month_end: date, zone: ZoneInfo) -> int:
    """The cells of the month pair ending ``month_end`` (days in ``zone``), replaced: per
    slice at the pair's first month-end, the cases overdue then and current at
    ``month_end``, and their outbound attempts and right-party contacts dated in the
    month (see the module's docstring). Nothing when either month-end is not written.
    One ``INSERT … SELECT``. Returns the cells written."""
    db.execute(delete(CELLS).where(CELLS.c.month_end == month_end))
    start, end = month_bounds(month_end, zone)
    before, then = aliased(CaseMonthEnd, name="before"), aliased(CaseMonthEnd, name="then")
    one = literal(1)
    # Each cure with its contact in the month, its row at the first month-end read once
    # (grouped by the row's key, so its slices come along).
    per_case = (
        select(
            *(getattr(before, name).label(name) for name in SLICES),
            func.count(case((ContactAttempt.inbound.is_(False), one))).label("attempts"),
            func.count(case((ContactAttempt.connected.is_(True), one))).label("connected"),
        )
        .join(then, and_(then.case_id == before.case_id, then.month_end == month_end))
        .outerjoin(
            ContactAttempt,
            and_(
                ContactAttempt.case_id == before.case_id,
                ContactAttempt.at >= start,
                ContactAttempt.at < end,
            ),
        )
        .where(
            before.month_end == previous_month_end(month_end),
            before.bucket != Bucket.CURRENT,
            then.bucket == Bucket.CURRENT,
        )
        .group_by(before.month_end, before.case_id)
        .subquery("per_case")
    )
    sliced_by = [per_case.c[name] for name in SLICES]
    grouped = select(
        literal(month_end, Date),
        *sliced_by,
        func.count(),
        func.sum(per_case.c.attempts),
        func.sum(per_case.c.connected),
    ).group_by(*sliced_by)
    columns = ["month_end", *SLICES, "cures", "attempts", "connected"]
    db.execute(insert(CELLS).from_select(columns, grouped))
    return rows_at(db, CELLS, month_end)


def contacts_per_cure(
    db: Session, first: date, last: date, chosen: Slice = WHOLE_BOOK
) -> ContactsPerCure:
    """The cures of the month pairs whose first month-ends run from ``first`` to
    ``last`` (both included) in the slice ``chosen``, and the contact on each in the
    month it cured, summed from the pairs' cells (see the module's docstring)."""
    columns = CELLS.c
    cures, attempts, connected = db.execute(
        select(
            func.coalesce(func.sum(columns.cures), 0),
            func.coalesce(func.sum(columns.attempts), 0),
            func.coalesce(func.sum(columns.connected), 0),
        ).where(*in_period(CELLS, first, last, chosen))
    ).one()
    # PostgreSQL sums integers as numeric (Decimal): whole numbers, made ints.
    return ContactsPerCure(first, last, chosen, int(cures), int(attempts), int(connected))


__all__ = ["ContactsPerCure", "contacts_per_cure", "count_cures"]
