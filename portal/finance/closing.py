"""Closing a month's books: once every reconciliation exception whose line falls in the
month is resolved or written off, and completed runs cover the whole month, finance
closes it. A closed month's reconciliation is locked: a run over any of its days is
refused, and its exceptions can no longer change. Only an admin reopens a month, with a
reason. Both are audited.

Months are calendar months (``YYYY-MM``) in the finance timezone. ``close`` and
``reopen`` commit once each, the change and its audit entry together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit import trail
from portal.core import settings as app_settings
from portal.core.clock import as_utc
from portal.models import (
    ACTIVE_EXCEPTION_STATUSES,
    PeriodClose,
    ReconciliationException,
    ReconciliationRun,
    RunStatus,
    StaffMember,
)

ADMIN_ROLE = "admin"
ALL_CURRENCIES = ""  # a close of every currency at once (the only kind offered so far)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class CloseRefusal(StrEnum):
    """Why a month could not be closed or reopened (worded by ``portal.wording.finance``)."""

    OPEN_EXCEPTIONS = "open_exceptions"
    NOT_COVERED = "not_covered"
    ALREADY_CLOSED = "already_closed"
    NOT_CLOSED = "not_closed"
    NOT_ADMIN = "not_admin"
    NO_REASON = "no_reason"
    NOT_OVER = "not_over"


class CloseError(Exception):
    """A close or reopen refused; ``reason`` says why."""

    def __init__(self, reason: CloseRefusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


class PeriodClosedError(Exception):
    """A run or a change over a month whose books are closed."""

    def __init__(self, month: str) -> None:
        super().__init__(month)
        self.month = month


def finance_zone() -> ZoneInfo:
    """The timezone whose calendar months are closed."""
    return app_settings.current().finance_zone


def parse_month(text: str) -> str | None:
    """``text`` as a month ``YYYY-MM``, or None when it is not one."""
    found = _MONTH.match(text.strip())
    return f"{found.group(1)}-{found.group(2)}" if found else None


def month_start(month: str) -> date:
    """The first day of ``month`` (``YYYY-MM``)."""
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1)


def next_month(month: str) -> str:
    """The month after ``month``."""
    first = month_start(month)
    year, number = (first.year + 1, 1) if first.month == 12 else (first.year, first.month + 1)
    return f"{year:04d}-{number:02d}"


def month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants from the start of ``month`` to the start of the next, in ``zone``."""
    start = datetime.combine(month_start(month), time.min, tzinfo=zone)
    end = datetime.combine(month_start(next_month(month)), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_of(moment: datetime, zone: ZoneInfo) -> str:
    """The month (``YYYY-MM``) a stored time falls in, in ``zone``."""
    return as_utc(moment).astimezone(zone).strftime("%Y-%m")


def months_touched(since: datetime, until: datetime, zone: ZoneInfo) -> list[str]:
    """Every month with an instant in ``[since, until)`` (``until`` is exclusive)."""
    month, last = month_of(since, zone), month_of(until - timedelta(microseconds=1), zone)
    months = [month]
    while months[-1] < last:
        months.append(next_month(months[-1]))
    return months


def closed(db: Session, month: str) -> PeriodClose | None:
    """The close that holds ``month`` shut now, if any."""
    return db.scalars(
        select(PeriodClose).where(
            PeriodClose.month == month,
            PeriodClose.currency == ALL_CURRENCIES,
            PeriodClose.reopened_at.is_(None),
        )
    ).first()


def closed_months(db: Session) -> set[str]:
    """Every month closed now."""
    return set(
        db.scalars(
            select(PeriodClose.month).where(
                PeriodClose.currency == ALL_CURRENCIES, PeriodClose.reopened_at.is_(None)
            )
        )
    )


def refuse_closed(db: Session, since: datetime, until: datetime) -> None:
    """Raise ``PeriodClosedError`` when ``[since, until)`` touches a closed month: its
    reconciliation is locked."""
    shut = closed_months(db)
    for month in months_touched(since, until, finance_zone()):
        if month in shut:
            raise PeriodClosedError(month)


@dataclass
class CloseState:
    """What a month's close page shows: whether it is closed (and by which close), the
    exceptions that block it, and whether completed runs cover every day of it."""

    month: str
    close: PeriodClose | None
    blocking: list[ReconciliationException]
    covered: bool
    runs: list[ReconciliationRun]
    over: bool
    history: list[PeriodClose]

    @property
    def can_close(self) -> bool:
        """Nothing blocks the close."""
        return self.close is None and self.over and self.covered and not self.blocking


def state(db: Session, month: str, now: datetime) -> CloseState:
    """Where ``month``'s close stands at ``now``."""
    zone = finance_zone()
    start, end = month_bounds(month, zone)
    blocking = list(
        db.scalars(
            select(ReconciliationException)
            .where(
                ReconciliationException.month == month,
                ReconciliationException.status.in_(ACTIVE_EXCEPTION_STATUSES),
            )
            .order_by(ReconciliationException.id)
        )
    )
    runs = list(
        db.scalars(
            select(ReconciliationRun)
            .where(
                ReconciliationRun.status == RunStatus.COMPLETED,
                ReconciliationRun.since < end,
                ReconciliationRun.until > start,
            )
            .order_by(ReconciliationRun.since, ReconciliationRun.id)
        )
    )
    history = list(
        db.scalars(select(PeriodClose).where(PeriodClose.month == month).order_by(PeriodClose.id))
    )
    return CloseState(
        month=month,
        close=closed(db, month),
        blocking=blocking,
        covered=_covers(runs, start, end),
        runs=runs,
        over=as_utc(now) >= end,
        history=history,
    )


def _covers(runs: list[ReconciliationRun], start: datetime, end: datetime) -> bool:
    """Whether the runs' periods together cover ``[start, end)`` without a gap."""
    reached = start
    for run in sorted(runs, key=lambda r: as_utc(r.since)):
        if as_utc(run.since) > reached:
            return False
        reached = max(reached, as_utc(run.until))
        if reached >= end:
            return True
    return reached >= end


def close(db: Session, month: str, actor: StaffMember | str, now: datetime) -> PeriodClose:
    """Close ``month``'s books in ``actor``'s name (a staff member or ``"cli"``); raise
    ``CloseError`` when the month is not over, already closed, not covered by completed
    runs, or has an exception still open or under investigation. Audited; commits."""
    found = state(db, month, now)
    if found.close is not None:
        raise CloseError(CloseRefusal.ALREADY_CLOSED)
    if not found.over:
        raise CloseError(CloseRefusal.NOT_OVER)
    if found.blocking:
        raise CloseError(CloseRefusal.OPEN_EXCEPTIONS)
    if not found.covered:
        raise CloseError(CloseRefusal.NOT_COVERED)
    member = actor if isinstance(actor, StaffMember) else None
    row = PeriodClose(
        month=month,
        currency=ALL_CURRENCIES,
        closed_by=member.id if member else None,
        closed_by_name=member.email if member else str(actor),
        closed_at=now,
    )
    db.add(row)
    trail.record(db, actor, "finance.month.close", now, month=month)
    try:
        db.commit()
    except IntegrityError:  # closed at the same moment by someone else
        db.rollback()
        raise CloseError(CloseRefusal.ALREADY_CLOSED) from None
    return row


def reopen(db: Session, month: str, actor: StaffMember, reason: str, now: datetime) -> PeriodClose:
    """Reopen a closed ``month``: only an active admin, and only with a reason. Audited;
    commits."""
    if not actor.active or ADMIN_ROLE not in actor.role_set:
        raise CloseError(CloseRefusal.NOT_ADMIN)
    reason = reason.strip()
    if not reason:
        raise CloseError(CloseRefusal.NO_REASON)
    row = closed(db, month)
    if row is None:
        raise CloseError(CloseRefusal.NOT_CLOSED)
    row.reopened_by, row.reopened_at, row.reopen_reason = actor.id, now, reason
    trail.record(db, actor, "finance.month.reopen", now, month=month, reason=reason)
    db.commit()
    return row
