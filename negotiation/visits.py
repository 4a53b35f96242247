"""Home visits (上門拜訪): whether one may be proposed, and when it may take place.

Values in, values out; ``today`` and every moment are parameters. The portal's visit
service (``portal.visits``) asks here before it stores anything.

- ``visit_bars``: every reason a visit may not be proposed on a case now (enums). A visit
  is for large or long-overdue debts only (the policy's ``[visits]`` table): the stage,
  the days past due and the overdue amount must all reach their thresholds; never while
  a hold (dispute, hardship) runs, while a plan is kept, or while another visit is open.
- ``visit_window``: the dates the written notice may name: from ``notice_days`` after
  the notice (the next day when the borrower asked for the visit), for ``window_days``
  days, with the hours of each day: the policy's visiting hours inside the contact
  rules' hours where the borrower lives (the stricter holds), and the days a blackout
  or public holiday of any channel covers left out.
- ``visit_refusals``: every reason a visit may not be set for a moment: outside the
  date range, outside the hours in the borrower's zone, within the times the borrower
  asked not to be contacted, on a blackout day, or while a hold runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from negotiation.contact import ContactRules
from negotiation.money import Currency
from negotiation.policy import Stage, VisitRules

_STAGE_ORDER = (Stage.CURRENT, Stage.EARLY, Stage.MID, Stage.LATE)


class VisitBar(StrEnum):
    """Why a visit may not be proposed on a case now."""

    STAGE_TOO_EARLY = "stage_too_early"
    TOO_FEW_DAYS = "too_few_days"
    AMOUNT_TOO_SMALL = "amount_too_small"
    ON_HOLD = "on_hold"
    ARRANGED = "arranged"
    VISIT_OPEN = "visit_open"


class VisitRefusal(StrEnum):
    """Why a visit may not be set for a moment."""

    ON_HOLD = "on_hold"
    BEFORE_WINDOW = "before_window"
    AFTER_WINDOW = "after_window"
    OUTSIDE_HOURS = "outside_hours"
    BORROWER_HOURS = "borrower_hours"
    BLACKOUT_DAY = "blackout_day"


@dataclass(frozen=True)
class VisitCase:
    """What decides whether a visit may be proposed: the case's stage, days past due and
    overdue amount (minor units of ``currency``), whether a hold runs, a plan is kept,
    or another visit is still open."""

    stage: Stage
    days_past_due: int
    overdue: int
    currency: Currency
    on_hold: bool = False
    arranged: bool = False
    visit_open: bool = False


def visit_bars(rules: VisitRules, case: VisitCase) -> tuple[VisitBar, ...]:
    """Every reason a visit may not be proposed on ``case`` (none: it may)."""
    bars: list[VisitBar] = []
    if _STAGE_ORDER.index(case.stage) < _STAGE_ORDER.index(rules.min_stage):
        bars.append(VisitBar.STAGE_TOO_EARLY)
    if case.days_past_due < rules.min_days_past_due:
        bars.append(VisitBar.TOO_FEW_DAYS)
    if case.overdue < rules.min_overdue[case.currency]:
        bars.append(VisitBar.AMOUNT_TOO_SMALL)
    if case.on_hold:
        bars.append(VisitBar.ON_HOLD)
    if case.arranged:
        bars.append(VisitBar.ARRANGED)
    if case.visit_open:
        bars.append(VisitBar.VISIT_OPEN)
    return tuple(bars)


@dataclass(frozen=True)
class VisitWindow:
    """The dates a visit may take place (``first`` to ``last``, the borrower's local
    dates, inclusive), the hours of each (``start`` to before ``end``, local), and the
    days inside it left out by a blackout or a public holiday."""

    first: date
    last: date
    start: time
    end: time
    closed_days: tuple[date, ...]

    def open_days(self) -> tuple[date, ...]:
        """The days of the range a visit may take place on."""
        days = (self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1))
        return tuple(day for day in days if day not in self.closed_days)


def visit_hours(rules: VisitRules, contact: ContactRules) -> tuple[time, time]:
    """The local hours a visit may take place: the policy's visiting hours inside the
    contact rules' hours (the latest start, the earliest end). Raises ValueError when
    they do not overlap."""
    start = max(rules.visit_from, contact.allowed_from)
    end = min(rules.visit_until, contact.allowed_until)
    if not start < end:
        raise ValueError("the visiting hours and the contact hours do not overlap")
    return start, end


def visit_window(
    rules: VisitRules, contact: ContactRules, noticed_on: date, *, agreed: bool = False
) -> VisitWindow:
    """The date range a notice given on ``noticed_on`` (the borrower's local date) may
    name: from ``notice_days`` later (the next day when the borrower ``agreed`` to the
    visit: no notice is owed them), ``window_days`` long, with the blackout and holiday
    days of ``contact`` (any channel's) left out."""
    lead = 1 if agreed else rules.notice_days
    first = noticed_on + timedelta(days=lead)
    last = first + timedelta(days=rules.window_days - 1)
    start, end = visit_hours(rules, contact)
    days = (first + timedelta(days=n) for n in range(rules.window_days))
    closed = tuple(day for day in days if contact.blacked_out(day))
    return VisitWindow(first, last, start, end, closed)


def visit_refusals(
    window: VisitWindow,
    contact: ContactRules,
    moment: datetime,
    time_zone: str,
    *,
    on_hold: bool,
) -> tuple[VisitRefusal, ...]:
    """Every reason a visit may not take place at ``moment`` (aware) for a borrower in
    ``time_zone``, within ``window`` and the ``contact`` rules (their blackouts, and the
    times the borrower asked not to be contacted). None: it may."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be an aware datetime")
    local = moment.astimezone(ZoneInfo(time_zone))
    day = local.date()
    reasons: list[VisitRefusal] = []
    if on_hold:
        reasons.append(VisitRefusal.ON_HOLD)
    if day < window.first:
        reasons.append(VisitRefusal.BEFORE_WINDOW)
    elif day > window.last:
        reasons.append(VisitRefusal.AFTER_WINDOW)
    if not window.start <= local.time() < window.end:
        reasons.append(VisitRefusal.OUTSIDE_HOURS)
    if contact.borrower_quiet(local):
        reasons.append(VisitRefusal.BORROWER_HOURS)
    if day in window.closed_days or contact.blacked_out(day):
        reasons.append(VisitRefusal.BLACKOUT_DAY)
    return tuple(reasons)


def minimums(rules: VisitRules) -> Mapping[Currency, int]:
    """The least overdue amount a visit needs, per currency."""
    return rules.min_overdue
