"""The one definition of a borrower's "today", for every page and job that counts days past
due, the overdue amount or what falls due: the date at a moment on the borrower's own
calendar (``Borrower.timezone``). An installment is overdue once its due date is before
that today, so while Taipei is already on the 6th and Los Angeles still on the 5th, an
installment due on the 5th is overdue for a borrower in Taipei and due today for one in
Los Angeles, on the queue, the case page, a letter and a bulk segment alike.

``borrower_today`` is the Python side; ``today_column`` is the same function as SQL, per
row, for the set-based queue: the zones whose date differs are few at any moment, so the
borrower's zone becomes one of at most three dates.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import ColumnElement, Date, literal
from sqlalchemy import case as when

from portal.core.clock import as_utc
from portal.core.sql import one_of


def borrower_today(timezone: str, moment: datetime) -> date:
    """The borrower's today at ``moment``: the date there, in their zone. Days past due,
    the overdue amount and what is due are all counted from it."""
    return as_utc(moment).astimezone(ZoneInfo(timezone)).date()


@cache
def _zones() -> tuple[tuple[str, ZoneInfo], ...]:
    # Held here for the process's life: ZoneInfo keeps only a few zones strongly, so
    # without this every request would read some 600 zone files from disk again.
    return tuple((name, ZoneInfo(name)) for name in sorted(available_timezones()))


@lru_cache(maxsize=32)
def dates_by_zone(moment: datetime) -> tuple[date, dict[date, list[str]]]:
    """At ``moment``: the date most zones are on, and the zones on each other date (kept
    for the moments of the last few requests: do not change what it returns)."""
    on: dict[date, list[str]] = {}
    utc = as_utc(moment)
    for name, zone in _zones():
        on.setdefault(utc.astimezone(zone).date(), []).append(name)
    counts = Counter({day: len(zones) for day, zones in on.items()})
    common = counts.most_common(1)[0][0]
    return common, {day: zones for day, zones in on.items() if day != common}


def today_column(timezone: Any, moment: datetime, days_before: int = 0) -> ColumnElement[date]:
    """``borrower_today`` as SQL for the zone in the column ``timezone`` (minus
    ``days_before`` days): a CASE of at most three literal dates, so it compares with an
    indexed date column on SQLite and PostgreSQL alike."""
    common, others = dates_by_zone(moment)
    shift = timedelta(days=days_before)
    if not others:
        return literal(common - shift, Date)
    return when(
        *((one_of(timezone, zones), literal(day - shift, Date)) for day, zones in others.items()),
        else_=literal(common - shift, Date),
    )


def date_bounds(moment: datetime) -> tuple[date, date]:
    """The earliest and the latest borrower's today at ``moment`` (a day or two apart)."""
    common, others = dates_by_zone(moment)
    days = [common, *others]
    return min(days), max(days)


__all__ = ["borrower_today", "date_bounds", "dates_by_zone", "today_column"]
