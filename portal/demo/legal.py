"""The demo's legal track (issue 19): a late-stage Taiwan case taken through the track up
to the district court's payment order (支付命令), through the same services the console
uses: referred by the demo agent 45 days ago, approved by the demo supervisor, the final
notice posted and emailed the same day; once its deadline passed, the 存證信函 and then
the 支付命令 recorded, the court fee charged (Taiwan's law lets it be) and the draft
application (聲請狀) kept as a document. The borrower's status page shows both steps
with their dates; the case page's next step is the 確定證明, 20 days after the order."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from negotiation.legal import LegalCost, LegalMilestone
from portal.cases.overdue import borrower_today
from portal.legal import service
from portal.legal.service import CostLine, DocumentLine
from portal.models import (
    Borrower,
    Case,
    CaseStatus,
    LegalDocumentKind,
    LegalTrack,
    Loan,
)
from portal.staff.accounts import find_member

AGENT = "agent@haohuan.example"
SUPERVISOR = "supervisor@haohuan.example"
# How long ago the agent referred the case: the 21-day notice has run, with time for
# the two steps after it.
REFERRED_DAYS_AGO = 45
# The payment order's court fee (民事訴訟法 §77-19: NT$500), in minor units.
COURT_FEE = 50_000


def _candidate(db: Session, then: datetime) -> Case | None:
    """The first open Taiwan case, not on hold, with a postal address, that could be
    referred on the day ``then``."""
    rows = db.scalars(
        select(Case)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(
            Loan.currency == "TWD",
            Borrower.timezone == "Asia/Taipei",
            Borrower.postal_address.is_not(None),
            Borrower.email.is_not(None),
            Case.status == CaseStatus.OPEN,
            Case.hold.is_(None),
            Case.overdue_since <= then.date() - timedelta(days=120),
        )
        .order_by(Case.id)
        .limit(40)
    )
    for case in rows:
        day = borrower_today(case.loan.borrower.timezone, then)
        if not service.referral_problems(db, case, day):
            return case
    return None


def seed_legal_track(db: Session, now: datetime) -> int | None:
    """Take one late Taiwan case through the legal track up to the payment order, once
    (a re-run adds nothing). The case's id, or None when no case fits. Commits."""
    if db.scalar(select(func.count()).select_from(LegalTrack)):
        return None
    agent, supervisor = find_member(db, AGENT), find_member(db, SUPERVISOR)
    if agent is None or supervisor is None:
        return None
    then = now - timedelta(days=REFERRED_DAYS_AGO)
    case = _candidate(db, then)
    if case is None:
        return None
    service.refer(db, case, agent, then, "No answer to calls or messages for three months.")
    service.approve(db, case, supervisor, then + timedelta(hours=2))
    track = service.send_final_notice(db, case, agent, then + timedelta(hours=3))
    deadline: date | None = track.deadline
    if deadline is None:
        return case.id
    letter_on = deadline + timedelta(days=2)
    service.record_milestone(
        db,
        case,
        agent,
        now,
        LegalMilestone.DEMAND_LETTER,
        letter_on,
        "存證信函 sent by the post office.",
        (CostLine(LegalCost.SERVICE_FEE, 43_000, charge=False),),
    )
    service.record_milestone(
        db,
        case,
        agent,
        now,
        LegalMilestone.PAYMENT_ORDER,
        letter_on + timedelta(days=9),
        "支付命令 issued by the district court.",
        (CostLine(LegalCost.COURT_FEE, COURT_FEE, charge=True),),
        (
            DocumentLine(
                LegalDocumentKind.PAYMENT_ORDER_APPLICATION,
                f"payment-order-application-{case.loan.number}.pdf",
            ),
            DocumentLine(LegalDocumentKind.COURT_ORDER, f"payment-order-{case.loan.number}.pdf"),
        ),
    )
    return case.id
