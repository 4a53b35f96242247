"""A plan's payment dates as a calendar file (iCalendar, RFC 5545), made with the
``icalendar`` library, loaded on first use.

One all-day event per installment, on its due date: a due date is a day on the
borrower's own calendar, so it is written as a DATE (no time, no zone) and no
conversion can move it to the day before or after. The summary gives the amount and the
description the portal's pay page (never a reminder link or a session: anyone who sees
the calendar must still verify). Each event's UID is fixed by the plan and the
installment, so a second download updates the events rather than doubling them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal.core.clock import as_utc
from portal.core.i18n import lender, market_of, money
from portal.letters.papers import agreed_plan
from portal.messaging.links import public_url
from portal.models import Case, Plan


@dataclass(frozen=True)
class CalendarFile:
    """The calendar's bytes and the file name to download it as."""

    data: bytes
    filename: str


def event_uid(plan: Plan, sequence: int, pay_url: str) -> str:
    """The stable identifier of one installment's event: the plan, the installment's
    place in it, and the portal's host."""
    host = urlsplit(pay_url).hostname or "haohuan"
    return f"plan-{plan.id}-payment-{sequence}@{host}"


def plan_calendar(
    case: Case, plan: Plan, locale: str, pay_url: str, moment: datetime
) -> CalendarFile:
    """The plan's installments as all-day events in ``locale`` (``pay_url`` is the
    portal's pay page, as an absolute URL)."""
    from icalendar import Calendar, Event

    count = len(plan.installments)
    name = lender(locale, market_of(case.loan.currency)).name
    calendar = Calendar()
    calendar.add("prodid", "-//Haohuan//Plan payments//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    with force_locale(locale):
        calendar.add("x-wr-calname", _("Plan payments: %(lender)s", lender=name))
        for row in plan.installments:
            event = Event()
            event.add("uid", event_uid(plan, row.sequence, pay_url))
            event.add("dtstamp", as_utc(moment))
            event.add("dtstart", row.due_date)
            event.add("dtend", row.due_date + timedelta(days=1))
            event.add(
                "summary",
                _(
                    "Plan payment %(number)d of %(count)d: %(amount)s",
                    number=row.sequence,
                    count=count,
                    amount=money(row.amount, plan.currency),
                ),
            )
            event.add("description", _("Pay online: %(url)s", url=pay_url))
            event.add("url", pay_url)
            event.add("transp", "TRANSPARENT")
            calendar.add_component(event)
    number = re.sub(r"[^A-Za-z0-9_-]", "_", case.loan.number)
    return CalendarFile(calendar.to_ical(), f"plan-{number}-{plan.id}.ics")


def calendar_for(
    db: Session, case: Case, plan_id: int, locale: str, moment: datetime
) -> CalendarFile | None:
    """The calendar of one of the case's accepted plans; None for any other plan."""
    plan = agreed_plan(db, case, plan_id)
    if plan is None:
        return None
    return plan_calendar(case, plan, locale, public_url("borrower.pay"), moment)
