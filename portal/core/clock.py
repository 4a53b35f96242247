"""The portal's one clock. Tests and the demo may freeze it with ``HAOHUAN_NOW``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from portal.core import settings


def now() -> datetime:
    """The current time in UTC, or the frozen time the configuration names."""
    frozen = settings.current().frozen_now
    if frozen:
        moment = datetime.fromisoformat(frozen)
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC)


def now_anywhere() -> datetime:
    """``now`` inside an app; the wall clock outside one (a migration, a script)."""
    from flask import has_app_context

    return now() if has_app_context() else datetime.now(UTC)


def local_today(timezone: str) -> date:
    """Today's date where the borrower lives: days past due count in their calendar."""
    return now().astimezone(ZoneInfo(timezone)).date()


def as_utc(moment: datetime) -> datetime:
    """A stored time as an aware UTC time: SQLite hands back naive datetimes, and every
    stored time is UTC."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
