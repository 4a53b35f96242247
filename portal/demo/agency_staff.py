"""The demo partner agency's own staff account (new password each run, printed with the
others): the agency of ``portal.demo.agencies`` (its Taiwan cases placed with it, paid
on and earning a commission), given the offer authority the lender sets (up to six
installments, 20% of penalties and 10% of fees waived; no letterhead). Its member sees
only those placed cases."""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from portal.demo import agencies
from portal.demo.seed import DemoMember
from portal.staff.accounts import add_member, change_password, find_member

DEMO_AGENCY_MEMBER = DemoMember(
    "agency@partner.example",
    "Demo Partner Agent",
    ("agency",),
    0,
    "a partner agency's staff: sees only the Taiwan cases placed with it (any other "
    "case is 404), offers up to 6 installments, cannot print on the lender's letterhead",
)


def seed_agency_staff(db: Session, named: int, now: datetime) -> tuple[str, str, str]:
    """The demo agency's authority and its account (made once, a new password each run);
    returns the account's (roles, email, password). Commits."""
    agency = agencies.seed_agency(db, named, now)
    agency.offer_max_installments = 6
    agency.offer_max_penalty_waiver_pct = Decimal(20)
    agency.offer_max_fee_waiver_pct = Decimal(10)
    db.commit()
    password = secrets.token_urlsafe(12)
    demo = DEMO_AGENCY_MEMBER
    member = find_member(db, demo.email)
    if member is None:
        add_member(db, demo.email, demo.name, demo.roles, password, now, agency_id=agency.id)
    else:
        member.active = True
        member.agency_id = agency.id
        change_password(db, member, password)
    return ",".join(demo.roles), demo.email, password
