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

Reads only: one statement (a union of one select per month pair, each joining the two
month-ends' rows of the cured cases alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select, union_all
from sqlalchemy.orm import Session, aliased

from negotiation.portfolio import Bucket
from portal.finance.reports import day_bounds
from portal.models import CaseMonthEnd, ContactAttempt
from portal.reporting.portfolio import Slice, share_text
from portal.reporting.slices import WHOLE_BOOK, share
from portal.reporting.snapshots import month_end_of

# The slice's fields, as the month-end history names them.
SLICE_FIELDS = ("product", "currency", "market", "stage", "owner_id", "team_id", "arm")


@dataclass(frozen=True)
class ContactsPerCure:
    """The cures of the period's month pairs and the contact they took."""

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


def month_end_conditions(row: Any, chosen: Slice) -> list[ColumnElement[bool]]:
    """The slice as conditions on a month-end row's own columns (``row``: the
    ``CaseMonthEnd`` entity or an alias of it)."""
    return [
        getattr(row, name) == getattr(chosen, name)
        for name in SLICE_FIELDS
        if getattr(chosen, name) is not None
    ]


def contacts_per_cure(
    db: Session, first: date, last: date, zone: ZoneInfo, chosen: Slice = WHOLE_BOOK
) -> ContactsPerCure:
    """The cures of the month pairs whose first month-ends run from ``first`` to
    ``last`` (both included) in the slice ``chosen``, and the contact on each in the
    month it cured (days in ``zone``; see the module's docstring)."""
    before, then = aliased(CaseMonthEnd, name="before"), aliased(CaseMonthEnd, name="then")
    pairs = []
    month_end = first
    while month_end <= last:
        following = month_end_of(month_end + timedelta(days=1))
        start, end = day_bounds(month_end + timedelta(days=1), following, zone)
        in_month = and_(
            ContactAttempt.case_id == before.case_id,
            ContactAttempt.at >= start,
            ContactAttempt.at < end,
        )
        attempts = (
            select(func.count())
            .where(in_month, ContactAttempt.inbound.is_(False))
            .correlate(before)
            .scalar_subquery()
        )
        reached = (
            select(func.count())
            .where(in_month, ContactAttempt.connected.is_(True))
            .correlate(before)
            .scalar_subquery()
        )
        pairs.append(
            select(attempts.label("attempts"), reached.label("reached"))
            .select_from(before)
            .join(then, and_(then.case_id == before.case_id, then.month_end == following))
            .where(
                before.month_end == month_end,
                before.bucket != Bucket.CURRENT,
                then.bucket == Bucket.CURRENT,
                *month_end_conditions(before, chosen),
            )
        )
        month_end = following
    if not pairs:
        return ContactsPerCure(first, last, chosen, 0, 0, 0)
    cured = union_all(*pairs).subquery()
    cures, attempted, reached_total = db.execute(
        select(
            func.count(),
            func.coalesce(func.sum(cured.c.attempts), 0),
            func.coalesce(func.sum(cured.c.reached), 0),
        )
    ).one()
    # PostgreSQL sums integers as numeric (Decimal): whole numbers, made ints.
    return ContactsPerCure(first, last, chosen, int(cures), int(attempted), int(reached_total))


__all__ = ["ContactsPerCure", "contacts_per_cure", "month_end_conditions"]
