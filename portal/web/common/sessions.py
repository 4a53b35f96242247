"""What borrower and staff sessions share: each records when it began and when it was
last used, and ends when either is too long ago."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import session


def still_fresh(
    started_key: str, seen_key: str, moment: datetime, idle: timedelta, absolute: timedelta
) -> bool:
    """Whether the session's start and last use (stored under these keys) are readable,
    less than ``absolute`` and ``idle`` before ``moment``."""
    try:
        started = datetime.fromisoformat(session[started_key])
        seen = datetime.fromisoformat(session[seen_key])
    except (KeyError, TypeError, ValueError):
        return False
    return not (moment - seen > idle or moment - started > absolute)
