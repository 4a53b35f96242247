"""The month-end step as a whole: the book at the month-end with its transitions and
liquidation cohorts (``snapshots.write_month_end``), then each section's cells of the
month (``COUNTERS``, ``portal.reporting.cells``).

When the cells of a month are counted, and counted again:

- at its own month-end, as the day's run finds them;
- at the next month-end, again: the run on a month's last day does not see what happens
  later that day;
- at every month-end after, while the month holds something not decided yet (a plan
  still live, a promise still open, an offer not answered): each counter names the
  oldest such month (``MonthCounter.unsettled``), and the months from it on are
  recounted, so a month's plans are counted as they stand at the latest month-end.
  Kept, broken and lapsed are final, so this is bounded by the plans' own terms.

Counting a month again replaces its cells. The backfill and the demo's history count
every month they write (``recount``).

None of these functions commits: the caller's transaction holds the month-end whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from negotiation import Policy
from portal.core.db import planned_for_values
from portal.core.settings import finance_zone_anywhere
from portal.reporting import agents, arrangements, contact, cures, funnel, promises, snapshots
from portal.reporting.cells import Database, months_between
from portal.reporting.snapshots import previous_month_end


@dataclass(frozen=True)
class MonthCounter:
    """One section's cells: ``count`` replaces the cells of the month ending on the date
    given (months of payments and events in the zone given) and returns how many it
    wrote; ``unsettled``, when the section's cells can change after their month (an
    outcome decided later), returns the month-end of the oldest month still holding
    something undecided (None: none)."""

    name: str
    count: Callable[[Database, date, ZoneInfo], int]
    unsettled: Callable[[Database], date | None] | None = None


# Every section counted by month, in the order they are counted.
COUNTERS: tuple[MonthCounter, ...] = (
    # Plans and promises by the month they were accepted or made, recounted while a month
    # holds one still live or open.
    MonthCounter("plans", arrangements.count_arrangements, arrangements.unsettled),
    MonthCounter("promises", promises.count_promises, promises.unsettled),
    # The funnel's accepted step leaves a plan canceled later (withdrawn, written off):
    # recounted while the plans' cells hold one still live.
    MonthCounter("funnel", funnel.count_funnel, arrangements.unsettled),
    MonthCounter("contact", contact.count_contact),
    MonthCounter("cures", cures.count_cures),
    # The agents': the book by owner at each month-end, the cases worked, the offers made
    # (recounted while a month holds an offer still open).
    MonthCounter("agents.owned", agents.count_owned),
    MonthCounter("agents.worked", agents.count_worked),
    MonthCounter("agents.offers", agents.count_offers, agents.unsettled_offers),
)


def count_month(
    db: Database, month_end: date, zone: ZoneInfo, counters: tuple[MonthCounter, ...] = COUNTERS
) -> dict[str, int]:
    """At ``month_end``: each counter's cells of that month, of the month before, and of
    every month since its oldest unsettled one (see the module's docstring). Every
    counter's oldest month is read before any counts: a count can settle what another
    counter's months depend on (the funnel on the plans'). Returns the cells written by
    counter."""
    before = previous_month_end(month_end)
    starts = {counter.name: _oldest(db, counter, before) for counter in counters}
    with planned_for_values(db):
        return {
            counter.name: sum(
                counter.count(db, month, zone)
                for month in months_between(starts[counter.name], month_end)
            )
            for counter in counters
        }


def _oldest(db: Database, counter: MonthCounter, before: date) -> date:
    """The oldest month ``counter`` counts at a month-end whose month before is
    ``before``."""
    unsettled = counter.unsettled(db) if counter.unsettled is not None else None
    return unsettled if unsettled is not None and unsettled < before else before


def recount(
    db: Database,
    first: date,
    last: date,
    zone: ZoneInfo,
    counters: tuple[MonthCounter, ...] = COUNTERS,
) -> dict[str, int]:
    """Each counter's cells of every month from ``first``'s to ``last``'s (month-ends),
    replaced. Returns the cells written by counter."""
    with planned_for_values(db):
        return {
            counter.name: sum(
                counter.count(db, month, zone) for month in months_between(first, last)
            )
            for counter in counters
        }


def close_month(
    db: Database, month_end: date, *, exact: bool = True, zone: ZoneInfo | None = None
) -> int:
    """The month-end step: ``snapshots.write_month_end``, then ``count_month``. Returns the
    month-end rows written."""
    zone = zone or finance_zone_anywhere()
    rows = snapshots.write_month_end(db, month_end, exact=exact, zone=zone)
    count_month(db, month_end, zone)
    return rows


def backfill(
    db: Database, first: date, last: date, rules: Policy, zone: ZoneInfo
) -> dict[date, int]:
    """``snapshots.backfill``, then every section's cells of every month from ``first``'s
    to the latest month-end written, whether its month-end was written now or before:
    after an upgrade that adds a section, its past months are counted this way. Returns
    the rows written by month-end."""
    written = snapshots.backfill(db, first, last, rules, zone)
    # The months after the last written are sliced by its rows: counted again too.
    latest = snapshots.latest_month_end(db) or snapshots.month_end_of(last)
    recount(db, snapshots.month_end_of(first), max(latest, snapshots.month_end_of(last)), zone)
    return written


__all__ = ["COUNTERS", "MonthCounter", "backfill", "close_month", "count_month", "recount"]
