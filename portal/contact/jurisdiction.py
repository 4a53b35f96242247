"""Setting where a borrower lives, for the contact rules, when the record does not say.

A borrower's jurisdiction is derived from their address and time zone when they are
added (``negotiation.jurisdiction.derive``). An agent who learns better (a borrower in
Los Angeles whose record names only the United States, one who has moved) sets it here:
the change is an audit entry and a case event, and every later call, message and letter
is judged by the new jurisdiction's rules.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from negotiation.jurisdiction import is_jurisdiction
from portal.audit import trail
from portal.core.db import lock_row
from portal.models import Borrower, Case, CaseEvent, StaffMember


def set_jurisdiction(
    db: Session, case: Case, code: str, member: StaffMember, moment: datetime
) -> bool:
    """Set the jurisdiction of the borrower of ``case`` to ``code`` and commit. Returns
    False (and changes nothing) when it already is ``code``. Raises ValueError for a
    code the rules do not know."""
    if not is_jurisdiction(code):
        raise ValueError(f"unknown jurisdiction: {code!r}")
    borrower = case.loan.borrower
    lock_row(db, Borrower, borrower.id)
    db.refresh(borrower)
    before = borrower.jurisdiction
    if before == code:
        return False
    borrower.jurisdiction = code
    borrower.jurisdiction_set_by = member.email
    db.add(
        CaseEvent(
            case_id=case.id,
            kind="jurisdiction_set",
            actor="agent",
            at=moment,
            data={"from": before, "to": code, "by": member.email},
        )
    )
    trail.record(
        db, member, "borrower.jurisdiction", moment, case_id=case.id, before=before, after=code
    )
    db.commit()
    return True
