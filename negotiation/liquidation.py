"""Liquidation curves: how much of what an entry cohort owed overdue when it entered
arrears has been paid back, month by month since entry. Values in, values out; rates are
exact fractions, never floats.

Definitions (``docs/reporting.md`` says them in words):

- **Entry cohort**: the cases that entered arrears at one month-end (overdue then, not at
  the month-end before), named by that month.
- **Overdue at entry**: what those cases owed overdue at that month-end.
- **Collected** by month *k*: what they paid from the month after entry through the
  *k*-th month after it (all of it). **Recovered**: of it, each case's payments up to its
  own overdue at entry (the rest paid installments that fell due later).
- **Liquidation rate** at month *k*: recovered over overdue at entry; the curve is these
  rates for *k* = 0, 1, 2, … (0 at entry, by definition).

Amounts are minor units of one currency: a cohort is always of one currency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fractions import Fraction


@dataclass(frozen=True)
class Point:
    """A cohort ``months`` months after entry: its cases, their overdue amount at entry,
    and what they had paid since (``collected``) and of it toward that amount
    (``recovered``), both cumulative."""

    months: int
    cases: int
    overdue: int
    collected: int
    recovered: int

    @property
    def rate(self) -> Fraction | None:
        """Recovered over overdue at entry (None when nothing was overdue)."""
        return Fraction(self.recovered, self.overdue) if self.overdue else None

    def __add__(self, other: Point) -> Point:
        if other.months != self.months:
            raise ValueError("only points of the same month since entry add up")
        return Point(
            self.months,
            self.cases + other.cases,
            self.overdue + other.overdue,
            self.collected + other.collected,
            self.recovered + other.recovered,
        )


@dataclass(frozen=True)
class Cohort:
    """One entry cohort of one currency and its points, by months since entry
    (ascending; a month whose month-end is not written is missing)."""

    entered: date
    currency: str
    points: tuple[Point, ...]

    def at(self, months: int) -> Point | None:
        """The point ``months`` after entry, if counted."""
        return next((point for point in self.points if point.months == months), None)

    @property
    def cases(self) -> int:
        """The cases that entered (the same at every point)."""
        return self.points[0].cases if self.points else 0

    @property
    def overdue(self) -> int:
        """Their overdue amount at entry."""
        return self.points[0].overdue if self.points else 0

    @property
    def latest(self) -> Point | None:
        """The last point counted."""
        return self.points[-1] if self.points else None

    def paid_in(self, months: int) -> int | None:
        """What the cohort paid in the ``months``-th month after entry alone (None when
        that month or the one before is not counted; 0 for the entry month)."""
        point = self.at(months)
        if point is None:
            return None
        if months == 0:
            return point.collected
        before = self.at(months - 1)
        return None if before is None else point.collected - before.collected


def cohorts_of(
    rows: Iterable[tuple[str, date, int, int, int, int, int]],
) -> dict[str, list[Cohort]]:
    """The cohorts of (currency, cohort month-end, months since entry, cases, overdue at
    entry, collected, recovered) rows, as an aggregate query returns them (rows of the
    same key are added): per currency (sorted), the cohorts oldest first."""
    points: dict[tuple[str, date], dict[int, Point]] = {}
    for currency, entered, months, cases, overdue, collected, recovered in rows:
        point = Point(int(months), int(cases), int(overdue), int(collected), int(recovered))
        found = points.setdefault((str(currency), entered), {})
        known = found.get(point.months)
        found[point.months] = point if known is None else known + point
    cohorts: dict[str, list[Cohort]] = {}
    for (currency, entered), found in sorted(points.items()):
        ordered = tuple(found[months] for months in sorted(found))
        cohorts.setdefault(currency, []).append(Cohort(entered, currency, ordered))
    return cohorts


__all__ = ["Cohort", "Point", "cohorts_of"]
