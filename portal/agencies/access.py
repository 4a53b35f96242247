"""What a partner agency's staff may reach: only the cases placed with their agency
while the placement lives (not recalled, its period not over: a placement past its end
stops access at that moment, before the daily work recalls it) and the agency is active.

The web layer asks this for every request of an agency member (``staff_required``), so
one check covers every case route, and a recall holds at the next request."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.core.db import MAX_ID
from portal.models import Agency, AgencyPlacement, Message, PlacementStatus, StaffMember

AGENCY_ROLE = "agency"


def is_agency_member(member: StaffMember) -> bool:
    """Whether ``member`` works for a partner agency (the role, or an agency set)."""
    return AGENCY_ROLE in member.role_set or member.agency_id is not None


def may_reach(db: Session, member: StaffMember, case_id: int, moment: datetime) -> bool:
    """Whether ``member`` (an agency's) may open case ``case_id`` at ``moment``."""
    if member.agency_id is None or not 0 < case_id <= MAX_ID:
        return False
    found = db.scalar(
        select(AgencyPlacement.id)
        .join(Agency, Agency.id == AgencyPlacement.agency_id)
        .where(
            Agency.active,
            AgencyPlacement.case_id == case_id,
            AgencyPlacement.agency_id == member.agency_id,
            AgencyPlacement.status == PlacementStatus.PLACED,
            AgencyPlacement.ends_at > moment,
        )
    )
    return found is not None


def case_of_message(db: Session, message_id: int) -> int | None:
    """The case a message belongs to (None: no such message)."""
    if not 0 < message_id <= MAX_ID:
        return None
    return db.scalar(select(Message.case_id).where(Message.id == message_id))
