"""The plan-kept rate with and without autopay: of the plans borrowers accepted in a
period, how many were kept, split by whether their installments were charged
automatically. The figure that says whether automatic payments keep plans alive.

Precisely:

- **Counted**: every plan accepted (``Plan.accepted_at``) between the first and the last
  day of the period, both included, as days of the finance timezone; except canceled
  plans, which the borrower withdrew before they started and so were never in force.
- **With autopay**: the plan had a mandate that was on at some time
  (``Autopay.started_at`` set: a card was saved), whether or not it was turned off
  later. Consent given with no card ever saved counts as without.
- **Kept**: the plan was completed; or it is still live (pending or active) and none of
  its installments was ever marked missed (``PlanInstallment.missed_on``) — kept so
  far, which is why a period of plans accepted long enough ago says more.
- **Not kept**: the plan broke (missed too often) or lapsed (its first installment went
  unpaid past the grace days), or it is still live with an installment marked missed.
- **Rate**: kept ÷ counted, with its 95% Wilson interval; the difference between the two
  rates (with autopay minus without) with Newcombe's interval.

Reads only, one statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from portal.finance.reports import day_bounds
from portal.models import Autopay, Plan, PlanInstallment, PlanStatus
from portal.strategy.results import Measure, newcombe, rate_measure

LIVE = (PlanStatus.PENDING.value, PlanStatus.ACTIVE.value)


@dataclass(frozen=True)
class KeptCounts:
    """The plans of one side (with or without autopay): how many were counted, and how
    they stand: completed, live and on track, broken, lapsed, live with a miss."""

    completed: int = 0
    on_track: int = 0
    broken: int = 0
    lapsed: int = 0
    missed: int = 0

    @property
    def counted(self) -> int:
        """Every plan counted."""
        return self.completed + self.on_track + self.broken + self.lapsed + self.missed

    @property
    def kept(self) -> int:
        """Completed, or live with no installment missed."""
        return self.completed + self.on_track

    @property
    def not_kept(self) -> int:
        """Broken, lapsed, or live with an installment missed."""
        return self.broken + self.lapsed + self.missed

    def measure(self) -> Measure:
        """The kept rate with its 95% interval (None while nothing was counted)."""
        return rate_measure(self.kept, self.counted)


@dataclass(frozen=True)
class PlanKeeping:
    """The period's plans, with autopay and without, and the difference of their kept
    rates (with minus without) with its 95% interval, when both sides have plans."""

    first: date
    last: date
    autopay: KeptCounts
    by_hand: KeptCounts
    difference: tuple[float, float, float] | None


def counted_plans(start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    """The plans counted from ``start`` to ``end`` (UTC, ``day_bounds``): accepted in
    between, and not canceled (withdrawn before they started, never in force). Shared
    with ``portal.reporting.arrangements``, so both say the same of the same plans."""
    return (
        Plan.accepted_at >= start,
        Plan.accepted_at < end,
        Plan.status != PlanStatus.CANCELLED,
    )


def plan_keeping(db: Session, first: date, last: date, zone: ZoneInfo) -> PlanKeeping:
    """The plan-kept rate of the plans accepted from ``first`` to ``last`` (days in
    ``zone``, both included), with and without autopay (see the module's docstring)."""
    start, end = day_bounds(first, last, zone)
    ever_on = exists().where(Autopay.plan_id == Plan.id, Autopay.started_at.is_not(None))
    any_missed = exists().where(
        PlanInstallment.plan_id == Plan.id, PlanInstallment.missed_on.is_not(None)
    )
    plans = (
        select(
            ever_on.label("automatic"),
            Plan.status.label("status"),
            any_missed.label("missed"),
        )
        .where(*counted_plans(start, end))
        .subquery()
    )
    tallies: dict[bool, dict[str, int]] = {True: {}, False: {}}
    rows = db.execute(
        select(plans.c.automatic, plans.c.status, plans.c.missed, func.count()).group_by(
            plans.c.automatic, plans.c.status, plans.c.missed
        )
    )
    for automatic, status, missed, number in rows:
        code = str(status)
        if code in LIVE:
            code = "missed" if missed else "on_track"
        side = tallies[bool(automatic)]
        side[code] = side.get(code, 0) + int(number)
    with_autopay, without = (KeptCounts(**tallies[side]) for side in (True, False))
    difference = None
    if with_autopay.counted and without.counted:
        low, high = newcombe(with_autopay.kept, with_autopay.counted, without.kept, without.counted)
        rate = with_autopay.kept / with_autopay.counted - without.kept / without.counted
        difference = (rate, low, high)
    return PlanKeeping(first, last, with_autopay, without, difference)


def as_json(report: PlanKeeping) -> dict[str, object]:
    """The report as ``haohuan payments kept-rate --json`` prints it: each side's counts,
    kept rate and interval (fractions, None while nothing is counted), and the difference."""

    def side(counts: KeptCounts) -> dict[str, object]:
        measure = counts.measure()
        return {
            "plans": counts.counted,
            "kept": counts.kept,
            "completed": counts.completed,
            "on_track": counts.on_track,
            "broken": counts.broken,
            "lapsed": counts.lapsed,
            "missed": counts.missed,
            "kept_rate": measure.rate,
            "low": measure.low,
            "high": measure.high,
        }

    difference = None
    if report.difference is not None:
        size, low, high = report.difference
        difference = {"rate": size, "low": low, "high": high}
    return {
        "first": report.first.isoformat(),
        "last": report.last.isoformat(),
        "with_autopay": side(report.autopay),
        "without_autopay": side(report.by_hand),
        "difference": difference,
    }
