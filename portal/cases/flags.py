"""Flags: the reasons a case needs an agent, each open at most once until an agent
clears it with a note.

``Case.needs_agent`` (what the queue filters on) is true exactly while a flag is open:
``raise_flag`` sets it, ``clear_flag`` unsets it when the last one closes. Raising a
reason already open changes nothing (a second broken promise does not stack a second
flag), so the daily work may raise the same flag every run. Every change is a case event;
a staff member's clearing is also audited by the caller's service. Functions here add to
the caller's transaction and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from portal.cases.facts import record_event
from portal.models import Case, CaseFlag, FlagReason

NOTE_LIMIT = 2000


class FlagError(Exception):
    """A flag that cannot be cleared: not open on this case (already cleared, or another
    case's)."""


def open_flags(db: Session, case_id: int) -> list[CaseFlag]:
    """The case's open flags, oldest first."""
    return list(
        db.scalars(
            select(CaseFlag)
            .where(CaseFlag.case_id == case_id, CaseFlag.cleared_at.is_(None))
            .order_by(CaseFlag.raised_at, CaseFlag.id)
        )
    )


def raise_flag(
    db: Session,
    case: Case,
    reason: FlagReason,
    now: datetime,
    by: str,
    **details: object,
) -> CaseFlag | None:
    """Open a flag for ``reason`` unless one is open already; returns the new flag."""
    already = db.scalar(
        select(CaseFlag).where(
            CaseFlag.case_id == case.id,
            CaseFlag.reason == reason,
            CaseFlag.cleared_at.is_(None),
        )
    )
    case.needs_agent = True
    if already is not None:
        return None
    flag = CaseFlag(
        case_id=case.id, reason=reason, raised_at=now, raised_by=by, details=dict(details)
    )
    db.add(flag)
    db.flush()
    record_event(
        db,
        case,
        "flag_raised",
        _actor(by),
        at=now,
        flag_id=flag.id,
        reason=reason.value,
        **details,
    )
    return flag


def raise_flags(
    db: Session, case_ids: Iterable[int], reason: FlagReason, now: datetime, by: str
) -> int:
    """``raise_flag`` for many cases at once (the daily work); returns how many opened."""
    opened = 0
    for case in db.scalars(select(Case).where(Case.id.in_(sorted(set(case_ids))))):
        if raise_flag(db, case, reason, now, by) is not None:
            opened += 1
    return opened


def clear_flag(
    db: Session, case: Case, flag_id: int, now: datetime, by: str, note: str
) -> CaseFlag:
    """Close one open flag with the note saying what was done; the case stops needing
    an agent when it was the last. Raises ``FlagError`` when it is not open here."""
    flag = db.get(CaseFlag, flag_id)
    if flag is None or flag.case_id != case.id or flag.cleared_at is not None:
        raise FlagError(flag_id)
    flag.cleared_at = now
    flag.cleared_by = by
    flag.clear_note = note.strip()[:NOTE_LIMIT]
    db.flush()
    still_open = db.scalar(
        select(exists().where(CaseFlag.case_id == case.id, CaseFlag.cleared_at.is_(None)))
    )
    case.needs_agent = bool(still_open)
    record_event(
        db,
        case,
        "flag_cleared",
        _actor(by),
        at=now,
        flag_id=flag.id,
        reason=flag.reason.value,
        note=flag.clear_note,
        by=by,
    )
    return flag


def clear_reason(db: Session, case: Case, reason: FlagReason, now: datetime, by: str) -> bool:
    """Close the case's open flag for ``reason`` when what raised it is resolved by the
    system itself (say, the hold under review ended); returns whether one was open."""
    flag = db.scalar(
        select(CaseFlag).where(
            CaseFlag.case_id == case.id,
            CaseFlag.reason == reason,
            CaseFlag.cleared_at.is_(None),
        )
    )
    if flag is None:
        return False
    clear_flag(db, case, flag.id, now, by, "")
    return True


def _actor(by: str) -> str:
    return by if by in ("system", "borrower") else "agent"
