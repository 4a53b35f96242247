"""Starting payments: one open payment per thing being paid, so a refresh, a back
button or a double click resumes the same checkout instead of charging twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.cases import live_plan, record_event, snapshot_of
from portal.i18n import money
from portal.models import Case, Payment
from portal.payments.gateway import gateway

OPEN = ("created", "pending", "unknown")


@dataclass(frozen=True)
class Started:
    """Where to send the borrower, or a translated reason nothing was started."""

    redirect_url: str = ""
    error: str | None = None


def payment_for_case(db: Session, case: Case, payment_id: int) -> Payment | None:
    """The payment, only if it belongs to the case (another borrower's id gets None)."""
    payment = db.get(Payment, payment_id)
    return payment if payment is not None and payment.case_id == case.id else None


def open_payment(
    db: Session,
    case: Case,
    purpose: str,
    amount: int | None,
    today: date,
    now: datetime,
    return_url: Callable[[int], str],
) -> Started:
    """Open (or reuse) a payment and hand it to the gateway. Commits."""
    plan = live_plan(db, case)
    plan_id = None
    if purpose == "installment":
        if plan is None:
            return Started(error=_("There is no plan payment due."))
        due = next((i for i in plan.installments if i.paid < i.amount), None)
        if due is None:
            return Started(error=_("There is no plan payment due."))
        amount, plan_id = due.amount - due.paid, plan.id
    elif purpose == "partial":
        if amount is None or amount <= 0:
            return Started(error=_("Enter the amount you want to pay."))
        overdue = snapshot_of(db, case, today).arrears.total
        if amount > overdue:
            return Started(
                error=_(
                    "That is more than is overdue. You can pay up to %(amount)s here.",
                    amount=money(overdue, case.loan.currency),
                )
            )
    else:
        return Started(error=_("There is no plan payment due."))
    existing = db.scalars(
        select(Payment).where(
            Payment.case_id == case.id,
            Payment.plan_id.is_(plan_id) if plan_id is None else Payment.plan_id == plan_id,
            Payment.purpose == purpose,
            Payment.amount == amount,
            Payment.status.in_(OPEN),
        )
    ).first()
    payment = existing or Payment(
        case_id=case.id,
        plan_id=plan_id,
        purpose=purpose,
        amount=amount,
        currency=case.loan.currency,
        status="created",
        gateway=gateway().name,
        created_at=now,
    )
    if existing is None:
        db.add(payment)
        db.flush()
        record_event(db, case, "payment_started", "borrower", payment_id=payment.id, amount=amount)
    checkout = gateway().start(payment.id, amount, payment.currency, return_url(payment.id))
    payment.gateway_reference = checkout.reference
    payment.status = "pending"
    db.commit()
    return Started(redirect_url=checkout.redirect_url)
