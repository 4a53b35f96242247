"""The contact that came before the demo history's cures: without it, contacts per cure
(``portal.reporting.cures``) would read almost nothing, for the drawn history has cases
curing in months nobody called or wrote to them.

For each cure the history draws (a case overdue at one month-end and current at the next),
in the month it cured: a call from the case's owner (or one of the demo's agents) on a
weekday afternoon, answered one time in two, and often a reminder by SMS a few days
before it and a second call a week after. Within the contact rules: on weekdays in the
borrower's own afternoon and morning, in the month's first three weeks (so never within
a week of a later month's first day, where today's caps count), and an SMS only where
the borrower had no other message that week (the caps of ``negotiation.contact``: two a
day, seven a week, which ``tests/portal/test_demo.py`` checks over the whole past).
Seeded: the same every run. Does not commit.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from negotiation.contact import Channel
from portal.demo.seed import demo_agent_account, demo_agents
from portal.models import Borrower, Case, ContactAttempt, Loan, StaffMember
from portal.reporting.snapshots import COLUMNS

CURES_SEED = 20261208
# The messages (SMS and email) the caps count.
MESSAGES = (Channel.SMS.value, Channel.EMAIL.value)
WEEK = timedelta(days=7)


def seed_cure_contact(db: Session, rows: Sequence[tuple[Any, ...]]) -> int:
    """The contact of every cure in the drawn ``rows`` (``COLUMNS``), by the case's owner
    or, for a case nobody owns, one of the demo's agents. Returns the attempts written."""
    cures = _cures(rows)
    agents = [member.email for member in demo_agents(db) + demo_agent_account(db)]
    if not cures or not agents:
        return 0
    people = _people(db, {case_id for case_id, _ in cures})
    sent = _messages_by_borrower(db)
    rng = random.Random(CURES_SEED)  # noqa: S311 (demo data, not secrets)
    written: list[dict[str, Any]] = []
    for case_id, month_end in sorted(cures):
        if case_id not in people:
            continue
        borrower_id, zone, owner = people[case_id]
        caller = owner or agents[case_id % len(agents)]
        first = month_end.replace(day=1)
        texted = _weekday(first + timedelta(days=rng.randint(1, 4)), 10, zone)
        if rng.random() < 0.7 and all(abs(texted - at) >= WEEK for at in sent[borrower_id]):
            sent[borrower_id].append(texted)
            written.append(_attempt(case_id, borrower_id, Channel.SMS, texted, "system", False))
        called = _weekday(first + timedelta(days=rng.randint(5, 9)), 14, zone)
        written.append(
            _attempt(case_id, borrower_id, Channel.CALL, called, caller, rng.random() < 0.5)
        )
        if rng.random() < 0.4:
            again = _weekday(first + timedelta(days=rng.randint(12, 16)), 15, zone)
            written.append(
                _attempt(case_id, borrower_id, Channel.CALL, again, caller, rng.random() < 0.5)
            )
    if written:
        db.execute(insert(ContactAttempt), written)
    return len(written)


def _cures(rows: Sequence[tuple[Any, ...]]) -> set[tuple[int, date]]:
    """(case, month-end it was current at) for each drawn cure."""
    case_at, end_at, days_at = (
        COLUMNS.index("case_id"),
        COLUMNS.index("month_end"),
        COLUMNS.index("days_past_due"),
    )
    overdue = {(row[case_at], row[end_at]) for row in rows if row[days_at] > 0}
    cured: set[tuple[int, date]] = set()
    for row in rows:
        month_end = row[end_at]
        before = month_end.replace(day=1) - timedelta(days=1)
        if row[days_at] == 0 and (row[case_at], before) in overdue:
            cured.add((row[case_at], month_end))
    return cured


def _people(db: Session, case_ids: set[int]) -> dict[int, tuple[int, str, str | None]]:
    """Each case's borrower, the borrower's time zone and the owner's email."""
    found = db.execute(
        select(Case.id, Borrower.id, Borrower.timezone, StaffMember.email)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .outerjoin(StaffMember, StaffMember.id == Case.owner_id)
        .where(Case.id.in_(case_ids))
    )
    return {case_id: (borrower, zone, owner) for case_id, borrower, zone, owner in found}


def _messages_by_borrower(db: Session) -> defaultdict[int, list[datetime]]:
    """Every outbound message already in the log, by borrower."""
    found: defaultdict[int, list[datetime]] = defaultdict(list)
    for borrower_id, at in db.execute(
        select(ContactAttempt.borrower_id, ContactAttempt.at).where(
            ContactAttempt.channel.in_(MESSAGES), ContactAttempt.inbound.is_(False)
        )
    ):
        found[borrower_id].append(at if at.tzinfo else at.replace(tzinfo=UTC))
    return found


def _weekday(day: date, hour: int, zone: str) -> datetime:
    """``hour`` o'clock on ``day`` in ``zone``, moved to the Monday after a weekend day."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(hour), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _attempt(
    case_id: int, borrower_id: int, channel: Channel, at: datetime, agent: str, connected: bool
) -> dict[str, Any]:
    calling = channel is Channel.CALL
    return {
        "case_id": case_id,
        "borrower_id": borrower_id,
        "channel": channel.value,
        "at": at,
        "connected": connected,
        "inbound": False,
        "agent": agent,
        "outcome": ("reached" if connected else "no_answer") if calling else "sent",
    }
