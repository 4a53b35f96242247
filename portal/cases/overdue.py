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
from pathlib import Path
from typing import Any
from zoneinfo import TZPATH, ZoneInfo, available_timezones

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
    # without this every request would read some 600 zone files from disk again. Names
    # whose files are the same bytes (aliases: US/Samoa and Pacific/Pago_Pago) share one
    # object, whose dates are theirs: 447 objects for 599 names, 0.5 MiB less a worker.
    shared: dict[bytes, ZoneInfo] = {}
    zones = []
    for name in sorted(available_timezones()):
        content = _zone_file(name)
        zone = shared.get(content) if content is not None else None
        if zone is None:
            zone = ZoneInfo(name)
            if content is not None:
                shared[content] = zone
        zones.append((name, zone))
    return tuple(zones)


def _zone_file(name: str) -> bytes | None:
    """The bytes of ``name``'s file on the time zone path, or None (a zone the tzdata
    package alone provides: not shared)."""
    for folder in TZPATH:
        path = Path(folder) / name
        if path.is_file():
            return path.read_bytes()
    return None


def load_zones() -> int:
    """Read every time zone now (they are held for the process's life), and say how many:
    the gunicorn master does, before it forks, so that no worker, nor any that replaces
    one, reads some 600 zone files on its first page."""
    return len(_zones())


def dates_by_zone(moment: datetime) -> tuple[date, dict[date, list[str]]]:
    """At ``moment``: the date most zones are on, and the zones on each other date (kept:
    do not change what it returns).

    Worked out once a minute: the dates at the minute's first and last microsecond are
    compared once, and while every zone is on the same date at both (a zone's date
    changes at its midnight or a transition, never twice within a minute) they are the
    dates of every moment of that minute. A minute in which some zone's date changes is
    worked out for each moment."""
    return _dates_at(dates_moment(moment))


def dates_moment(moment: datetime) -> datetime:
    """The moment whose dates in every zone are those of ``moment``, the same for every
    moment of a minute in which no zone's date changes (its start, in UTC): whatever is
    built from ``dates_by_zone`` alone (a statement's days and amounts) built at this
    moment is the same as built at ``moment``, so it can be kept under it."""
    utc = as_utc(moment)
    start = utc.replace(second=0, microsecond=0)
    return start if _same_through(start) else utc


@lru_cache(maxsize=32)
def _same_through(start: datetime) -> bool:
    """Whether every zone is on the same date at ``start`` and a minute later, less a
    microsecond."""
    return _dates_at(start) == _dates_at(start + timedelta(seconds=59, microseconds=999_999))


@lru_cache(maxsize=32)
def _dates_at(utc: datetime) -> tuple[date, dict[date, list[str]]]:
    on: dict[date, list[str]] = {}
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


__all__ = ["borrower_today", "date_bounds", "dates_by_zone", "dates_moment", "today_column"]
