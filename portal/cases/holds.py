"""Holds: a declared hardship or a dispute stops escalation and pressure at once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from negotiation import Hold
from portal.cases.facts import record_event
from portal.models import Case


def hold_case(
    db: Session,
    case: Case,
    reason: str,
    details: str,
    now: datetime,
    *,
    actor: str = "borrower",
    **data: object,
) -> bool:
    """Put the case on hold for an agent to review, and record why and who said so
    (``actor``: ``borrower`` from the portal, ``agent`` when told on a call). Does not
    commit: the caller's action and the hold belong to one transaction. Returns False
    when the case was already on hold (the declaration is still recorded)."""
    if reason not in tuple(Hold):
        raise ValueError(f"unknown hold reason {reason!r}")
    placed = case.hold is None
    if placed:
        case.hold = Hold(reason)
        case.hold_since = now
    case.needs_agent = True
    record_event(db, case, f"{reason}_declared", actor, at=now, details=details[:2000], **data)
    return placed


def place_hold(db: Session, case: Case, reason: str, details: str, now: datetime) -> None:
    """The borrower declared a hardship or a dispute in the portal. Commits."""
    hold_case(db, case, reason, details, now)
    db.commit()
