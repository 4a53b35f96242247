"""Holds: a declared hardship or a dispute stops escalation and pressure at once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from portal.cases import record_event
from portal.models import Case

HOLD_REASONS = ("hardship", "dispute")


def place_hold(db: Session, case: Case, reason: str, details: str, now: datetime) -> None:
    """Put the case on hold for an agent to review, and record why. Commits."""
    if reason not in HOLD_REASONS:
        raise ValueError(f"unknown hold reason {reason!r}")
    if case.hold is None:
        case.hold = reason
        case.hold_since = now
    case.needs_agent = True
    record_event(db, case, f"{reason}_declared", "borrower", details=details[:2000])
    db.commit()
