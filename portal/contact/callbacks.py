"""Callbacks: a call we owe the borrower at a moment they (or an agent) chose.

One open callback per case (a unique partial index): a new one replaces the open one,
which is canceled with the newer one's id in the case event. A callback is closed as done
by the first call to the borrower logged from half an hour before it was due (a call a
little early still answers it); a later call leaves an earlier-requested callback open
only while it is not yet due.

A callback the borrower asked for is their request, not contact the lender made: it
never counts toward the caps. The call made for it passes the gate like any other call.
Functions here add rows and events to the caller's transaction; they never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Callback, CallbackSource, CallbackStatus, Case, CaseEvent

# A call logged this long before a callback was due still answers it.
EARLY_CALL = timedelta(minutes=30)


def open_callback(db: Session, case_id: int) -> Callback | None:
    """The case's open callback, if any."""
    return db.scalar(
        select(Callback).where(Callback.case_id == case_id, Callback.status == CallbackStatus.OPEN)
    )


def schedule_callback(
    db: Session,
    case: Case,
    due_at: datetime,
    source: CallbackSource,
    requested_by: str,
    now: datetime,
    *,
    attempt_id: int | None = None,
    note: str | None = None,
) -> Callback:
    """Record a callback due at ``due_at``, replacing the case's open one; the caller has
    already checked that the time is one the contact rules allow."""
    previous = open_callback(db, case.id)
    if previous is not None:
        previous.status = CallbackStatus.CANCELED
        previous.closed_at = now
        previous.closed_by = requested_by
        # The partial unique index sees one open row at a time only if this lands first.
        db.flush()
    callback = Callback(
        case_id=case.id,
        due_at=due_at,
        source=source,
        status=CallbackStatus.OPEN,
        requested_by=requested_by,
        requested_at=now,
        contact_attempt_id=attempt_id,
        note=note,
    )
    db.add(callback)
    db.flush()
    db.add(
        CaseEvent(
            case_id=case.id,
            kind="callback_requested",
            actor={CallbackSource.STRATEGY: "system"}.get(
                source, "borrower" if requested_by == "borrower" else "agent"
            ),
            at=now,
            data={
                "callback_id": callback.id,
                "at": due_at.isoformat(),
                "source": source.value,
                "attempt_id": attempt_id,
                "replaces": previous.id if previous is not None else None,
            },
        )
    )
    return callback


def answer_callback(db: Session, case: Case, call_started: datetime, by: str) -> Callback | None:
    """Close the case's open callback as done when a call started no earlier than half an
    hour before it was due; returns the callback closed, if any."""
    callback = open_callback(db, case.id)
    if callback is None or call_started < callback.due_at - EARLY_CALL:
        return None
    callback.status = CallbackStatus.DONE
    callback.closed_at = call_started
    callback.closed_by = by
    db.add(
        CaseEvent(
            case_id=case.id,
            kind="callback_done",
            actor="agent",
            at=call_started,
            data={"callback_id": callback.id, "by": by},
        )
    )
    return callback


def cancel_callback(
    db: Session, case: Case, now: datetime, by: str, note: str | None = None
) -> Callback | None:
    """Cancel the case's open callback (the borrower withdrew it, or an agent did, with
    ``note`` saying why, kept in the case event)."""
    callback = open_callback(db, case.id)
    if callback is None:
        return None
    callback.status = CallbackStatus.CANCELED
    callback.closed_at = now
    callback.closed_by = by
    db.add(
        CaseEvent(
            case_id=case.id,
            kind="callback_canceled",
            actor="borrower" if by == "borrower" else "agent",
            at=now,
            data={"callback_id": callback.id, **({"note": note} if note else {})},
        )
    )
    return callback
