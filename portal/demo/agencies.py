"""The demo's partner agency and what it earned: the agency ``demo-agency`` (made only
if no one seeded it before), three named borrowers' open Taiwan cases placed with it
(unless it already has placements), and part payments on two of them this month, one
partly refunded, so finance's commission statement has a payment and a clawback to show.

Payments go through ``portal.payments.events.handle``, as a gateway's events do, and the
commission is booked by ``portal.agencies.commission.book``, as the daily work books it.
Re-running adds nothing: the agency, the placements and each payment are looked up
first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.agencies import commission
from portal.models import (
    Agency,
    AgencyPlacement,
    Case,
    CaseStatus,
    Loan,
    Payment,
    PaymentStatus,
    PlacementStatus,
)
from portal.payments.events import GatewayEvent, Outcome, handle

DEMO_AGENCY = "demo-agency"
RATE = Decimal("0.1200")
# Two payments (minor units of TWD) and the part of the first refunded.
PAYMENTS = (123_450, 250_000)
REFUNDED = 23_450


def seed_agency(db: Session, named: int, now: datetime) -> Agency:
    """The demo agency, made if missing; its placements, made if it has none, on open
    Taiwan cases among the ``named`` borrowers' with no hold and no live placement."""
    agency = db.scalars(select(Agency).where(Agency.code == DEMO_AGENCY)).first()
    if agency is None:
        agency = Agency(code=DEMO_AGENCY, name="Demo Collections Partner", commission_rate=RATE)
        db.add(agency)
        db.flush()
    placed = db.scalars(
        select(AgencyPlacement.id).where(AgencyPlacement.agency_id == agency.id)
    ).first()
    if placed is None:
        live = select(AgencyPlacement.case_id).where(
            AgencyPlacement.status == PlacementStatus.PLACED
        )
        cases = db.scalars(
            select(Case)
            .join(Loan, Loan.id == Case.loan_id)
            .where(
                Case.id <= named,
                Case.status == CaseStatus.OPEN,
                Case.hold.is_(None),
                Loan.currency == "TWD",
                Case.id.not_in(live),
            )
            .order_by(Case.id)
            .limit(3)
        ).all()
        for case in cases:
            db.add(
                AgencyPlacement(
                    agency_id=agency.id,
                    case_id=case.id,
                    commission_rate=agency.commission_rate,
                    placed_balance=_owed(case, now),
                    currency="TWD",
                    placed_by="supervisor@haohuan.example",
                    placed_at=now - timedelta(days=20),
                    ends_at=now + timedelta(days=70),
                )
            )
    db.commit()
    return agency


def _owed(case: Case, now: datetime) -> int:
    """What the case's borrower owed overdue at ``now``: installments due, and charges."""
    today = now.date()
    installments = sum(
        i.principal_outstanding + i.interest_outstanding
        for i in case.loan.installments
        if i.due_date <= today
    )
    return installments + sum(c.outstanding for c in case.loan.charges)


def seed_commission(db: Session, named: int, now: datetime) -> None:
    """The agency, its placements, two part payments on its live placed cases (the
    first partly refunded) within the last hours, and the commission booked. Commits."""
    agency = seed_agency(db, named, now)
    placements = db.scalars(
        select(AgencyPlacement)
        .where(
            AgencyPlacement.agency_id == agency.id,
            AgencyPlacement.status == PlacementStatus.PLACED,
            AgencyPlacement.placed_at < now - timedelta(hours=3),
            AgencyPlacement.currency == "TWD",
        )
        .order_by(AgencyPlacement.id)
        .limit(len(PAYMENTS))
    ).all()
    for number, (placement, amount) in enumerate(zip(placements, PAYMENTS, strict=False)):
        reference = f"demo_agency_{placement.id}"
        if db.scalars(select(Payment.id).where(Payment.gateway_reference == reference)).first():
            continue
        moment = now - timedelta(hours=2 - number / 2)
        payment = Payment(
            case_id=placement.case_id,
            purpose="partial",
            amount=amount,
            currency="TWD",
            status=PaymentStatus.PENDING,
            gateway="sandbox",
            gateway_reference=reference,
            created_at=moment,
        )
        db.add(payment)
        db.commit()
        paid = GatewayEvent("sandbox", f"evt_{reference}", reference, Outcome.SUCCEEDED)
        handle(db, paid, moment + timedelta(minutes=1))
        if number == 0:
            refund = GatewayEvent(
                "sandbox", f"evt_{reference}_refund", reference, Outcome.REFUNDED, REFUNDED
            )
            handle(db, refund, moment + timedelta(minutes=30))
    commission.book(db, now)
