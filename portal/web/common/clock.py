"""The consoles' and the borrower's "today": the date of this request's moment
(``g.now``, set once per request) on the calendar each page counts days in."""

from __future__ import annotations

from datetime import date, tzinfo
from zoneinfo import ZoneInfo

from flask import current_app, g

from portal.core.clock import local_today
from portal.finance.reports import finance_timezone
from portal.models import Case

CONSOLE_TIMEZONE = "Asia/Taipei"


def console_zone() -> ZoneInfo:
    """The lender's time zone: the queue's "today" and the times the console shows."""
    config = current_app.config
    return ZoneInfo(
        config.get("CONSOLE_TIMEZONE") or config.get("FINANCE_TIMEZONE") or CONSOLE_TIMEZONE
    )


def today_in(zone: tzinfo) -> date:
    """The date of this request's moment in ``zone``."""
    return g.now.astimezone(zone).date()  # type: ignore[no-any-return]


def console_today() -> date:
    """Today in the agent console: the queue's, and a bulk send's built from it."""
    return today_in(console_zone())


def finance_today() -> date:
    """Today in the finance console's calendar."""
    return today_in(finance_timezone())


def borrower_today(case: Case) -> date:
    """Today where the case's borrower lives: days past due count in their calendar."""
    return local_today(case.loan.borrower.timezone)
