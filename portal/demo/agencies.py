"""The demo's partner agency: an agency (15% commission, no letterhead, offers of up to
six installments), its staff account (new password each run, printed with the others),
and a few open Taiwan cases placed with it for 60 days by the demo supervisor. Re-running
adds nothing but the password."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.agencies import agencies, placement
from portal.demo.seed import DemoMember
from portal.models import AgencyPlacement, Case, CaseStatus, Loan
from portal.staff.accounts import add_member, change_password, find_member

DEMO_AGENCY_CODE = "TPE-PARTNER"
DEMO_SUPERVISOR = "supervisor@haohuan.example"
PLACED_CASES = 8
PERIOD = timedelta(days=60)
DEMO_AGENCY_MEMBER = DemoMember(
    "agency@partner.example",
    "台北合作催收",
    ("agency",),
    0,
    "a partner agency's staff: sees only the Taiwan cases placed with it (every other "
    "case is 404), offers up to 6 installments, cannot print on the lender's letterhead",
)


def seed_agency(db: Session, now: datetime) -> tuple[str, str, str]:
    """Make the demo agency and its account (once), place its cases (once) and return
    the account's (roles, email, password). Commits."""
    agency = agencies.agency_by_code(db, DEMO_AGENCY_CODE)
    if agency is None:
        asked = agencies.NewAgency(
            code=DEMO_AGENCY_CODE,
            name="台北合作催收股份有限公司",
            commission_pct=Decimal(15),
            letterhead_allowed=False,
            max_installments=6,
            max_penalty_waiver_pct=Decimal(20),
            max_fee_waiver_pct=Decimal(10),
        )
        agency = agencies.create_agency(db, asked, "demo", now)
    password = secrets.token_urlsafe(12)
    demo = DEMO_AGENCY_MEMBER
    member = find_member(db, demo.email)
    if member is None:
        add_member(db, demo.email, demo.name, demo.roles, password, now, agency_id=agency.id)
    else:
        member.active = True
        change_password(db, member, password)
    supervisor = find_member(db, DEMO_SUPERVISOR)
    placed_before = db.scalar(
        select(AgencyPlacement.id).where(AgencyPlacement.agency_id == agency.id)
    )
    if supervisor is not None and placed_before is None:
        segment = (
            select(Case.id)
            .join(Loan, Loan.id == Case.loan_id)
            .where(
                Loan.currency == "TWD",
                Case.status == CaseStatus.OPEN,
                Case.hold.is_(None),
                Case.overdue_since.is_not(None),
            )
            .order_by(Case.id)
            .limit(PLACED_CASES)
        )
        placement.place_segment(
            db, agency, segment, now + PERIOD, supervisor, now, {"demo": "Taiwan cases"}
        )
    return ",".join(demo.roles), demo.email, password
