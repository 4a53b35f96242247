"""The staff audit log: every staff action, appended, never changed.

``record`` adds an entry to the caller's transaction, so the action and its record
commit together or not at all: it never commits. ``record_read`` is the one exception,
for a read that changes nothing else (the log, the outbox, a message, a bulk send): the
entry is its own transaction, and ``record_read`` commits it. The table's triggers
(migration 0007) refuse UPDATE and DELETE, so not even a bug here can rewrite history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import has_request_context, request
from sqlalchemy import insert
from sqlalchemy.orm import Session

from portal.models import AuditEntry, StaffMember


def _address() -> str | None:
    if not has_request_context():
        return None
    return (request.remote_addr or "")[:64] or None


def record(
    db: Session,
    actor: StaffMember | str,
    action: str,
    moment: datetime,
    *,
    case_id: int | None = None,
    **details: Any,
) -> AuditEntry:
    """Append one entry: who (a staff member, or ``"cli"``/``"system"``), what, when and
    on which case; a partner agency's member's entries name their agency (``agency``,
    its id, first among the details), so every action is audited under it. Does not
    commit: it belongs to the action's own transaction."""
    member = actor if isinstance(actor, StaffMember) else None
    if member is not None and member.agency_id is not None:
        details = {"agency": member.agency_id, **details}
    entry = AuditEntry(
        at=moment,
        staff_id=member.id if member else None,
        actor=member.email if member else str(actor),
        action=action,
        case_id=case_id,
        details=details,
        address=_address(),
    )
    db.add(entry)
    return entry


def record_many(
    db: Session,
    actor: str,
    action: str,
    moment: datetime,
    entries: Iterable[tuple[int | None, dict[str, Any]]],
) -> int:
    """Append one entry per ``(case_id, details)`` of ``entries``, all by ``actor`` (a
    name such as ``"system"``, not a staff member) doing ``action`` at ``moment``, in one
    statement: what ``record`` would add one by one. Does not commit. How many."""
    address = _address()
    rows = [
        {
            "at": moment,
            "staff_id": None,
            "actor": actor,
            "action": action,
            "case_id": case_id,
            "details": details,
            "address": address,
        }
        for case_id, details in entries
    ]
    if rows:
        db.execute(insert(AuditEntry), rows)
    return len(rows)


def record_read(
    db: Session,
    actor: StaffMember,
    action: str,
    moment: datetime,
    *,
    case_id: int | None = None,
    **details: Any,
) -> AuditEntry:
    """Record that ``actor`` looked at something the log keeps track of, and commit.

    Commits: a read changes nothing else, so its entry needs no other transaction to
    join. Called once the read is done, so what was shown is what was there before the
    entry."""
    entry = record(db, actor, action, moment, case_id=case_id, **details)
    db.commit()
    return entry
