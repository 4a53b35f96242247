"""The consoles' and the borrower's "today": the date of this request's moment
(``g.now``, set once per request) on the calendar each page counts days in."""

from __future__ import annotations

from datetime import date, tzinfo

from flask import g

from portal.cases import overdue, queue
from portal.cases.queue import console_zone
from portal.finance.reports import finance_timezone
from portal.models import Case

__all__ = ["borrower_today", "console_today", "console_zone", "finance_today", "today_in"]


def today_in(zone: tzinfo) -> date:
    """The date of this request's moment in ``zone``."""
    return g.now.astimezone(zone).date()  # type: ignore[no-any-return]


def console_today() -> date:
    """Today in the agent console: the queue's, and a bulk send's built from it
    (``portal.cases.queue.console_today`` at this request's moment)."""
    return queue.console_today(g.now)


def finance_today() -> date:
    """Today in the finance console's calendar."""
    return today_in(finance_timezone())


def borrower_today(case: Case) -> date:
    """Today where the case's borrower lives at this request's moment: days past due count
    in their calendar (``portal.cases.overdue.borrower_today``, as the queue, letters and
    messages count them)."""
    return overdue.borrower_today(case.loan.borrower.timezone, g.now)
