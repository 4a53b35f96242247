"""The staff audit log: every staff action, appended, never changed.

``record`` adds an entry to the caller's transaction, so the action and its record
commit together or not at all. The table's triggers (migration 0007) refuse UPDATE and
DELETE, so not even a bug here can rewrite history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g, has_request_context, request
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
    on which case. Does not commit: it belongs to the action's own transaction."""
    member = actor if isinstance(actor, StaffMember) else None
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


def record_current(db: Session, action: str, moment: datetime, **kwargs: Any) -> AuditEntry:
    """``record`` for the staff member signed in to this request (``g.staff``)."""
    return record(db, g.staff, action, moment, **kwargs)
