"""Payment frequencies and due-date schedules."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache

_PERIODS_PER_YEAR = {"monthly": 12, "biweekly": 26, "weekly": 52}


class Frequency(StrEnum):
    """How often installments fall due."""

    MONTHLY = "monthly"
    BIWEEKLY = "biweekly"
    WEEKLY = "weekly"

    @property
    def periods_per_year(self) -> int:
        """Installments in a year at this frequency."""
        return _PERIODS_PER_YEAR[self]


def add_months(start: date, months: int, anchor_day: int | None = None) -> date:
    """``start`` moved by whole months, clamped to the month's last day.

    ``anchor_day`` is the day of the month the schedule was set on, so that a schedule
    anchored on the 31st goes Jan 31, Feb 28 (or 29), Mar 31, not Mar 28.
    """
    day = anchor_day if anchor_day is not None else start.day
    month_index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day, last_day))


def due_dates(first: date, count: int, frequency: Frequency) -> list[date]:
    """``count`` due dates starting on ``first``, strictly increasing."""
    return list(schedule_dates(first, count, frequency))


@lru_cache(maxsize=2048, typed=True)
def schedule_dates(first: date, count: int, frequency: Frequency) -> tuple[date, ...]:
    """``due_dates`` as a tuple, remembered: every plan proposed on one day starts on the
    same few dates, so the portal's requests (and a day's batch) share them."""
    if frequency is Frequency.MONTHLY:
        return _monthly(first, count)
    step = timedelta(days=14 if frequency is Frequency.BIWEEKLY else 7)
    return tuple(first + step * k for k in range(count))


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _monthly(first: date, count: int) -> tuple[date, ...]:
    """``add_months(first, k, first.day)`` for k below ``count``, month by month."""
    if count < 1:
        return ()
    anchor, year, month = first.day, first.year, first.month
    dates = [first]
    for _ in range(count - 1):
        month += 1
        if month == 13:
            year, month = year + 1, 1
        last = _DAYS_IN_MONTH[month - 1]
        if month == 2 and calendar.isleap(year):
            last = 29
        dates.append(date(year, month, anchor if anchor < last else last))
    return tuple(dates)
