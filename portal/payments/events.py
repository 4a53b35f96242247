"""Gateway events: the one path by which a payment's outcome changes a case.

The sandbox's checkout page and the Stripe webhook both end here. Each event is handled
once: its id is written in the same transaction as its effects, under a unique
constraint, so a redelivery (or twenty at once) changes nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.cases import record_event
from portal.clock import local_today
from portal.ledger import apply_to_loan
from portal.models import Case, Payment, Plan, ProcessedEvent


class Outcome(StrEnum):
    """What a gateway says happened to a payment."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINAL = frozenset({"succeeded"})


@dataclass(frozen=True)
class GatewayEvent:
    """One event from a gateway, already authenticated by the caller."""

    gateway: str
    event_id: str
    reference: str
    outcome: Outcome


def handle(db: Session, event: GatewayEvent, now: datetime) -> bool:
    """Apply an event once. Returns False when it was a duplicate. Commits."""
    db.add(ProcessedEvent(gateway=event.gateway, event_id=event.event_id, received_at=now))
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        return False
    payment = db.scalars(
        select(Payment).where(Payment.gateway_reference == event.reference).with_for_update()
    ).first()
    if payment is not None and payment.status not in FINAL:
        if event.outcome is Outcome.SUCCEEDED:
            _succeed(db, payment, now)
        else:
            payment.status = "failed"
            record_event(db, _case(db, payment), "payment_failed", "system", payment_id=payment.id)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        return False
    return True


def _case(db: Session, payment: Payment) -> Case:
    case = db.get(Case, payment.case_id)
    assert case is not None  # a payment always belongs to a case  # noqa: S101
    return case


def _succeed(db: Session, payment: Payment, now: datetime) -> None:
    payment.status = "succeeded"
    payment.confirmed_at = now
    case = _case(db, payment)
    record_event(
        db, case, "payment_succeeded", "system", payment_id=payment.id, amount=payment.amount
    )
    plan = db.get(Plan, payment.plan_id) if payment.plan_id else None
    write_off = False
    if plan is not None:
        _allocate_to_plan(plan, payment.amount)
        if plan.status == "pending":
            plan.status = "active"
            plan.activated_at = now
            case.status = "arranged"
            # An unconditional waiver is granted at once; a conditional one is earned by
            # keeping the plan to the end (and reinstated if it breaks).
            write_off = not plan.conditional_waiver
            record_event(db, case, "plan_activated", "system", plan_id=plan.id)
        if all(i.paid >= i.amount for i in plan.installments):
            plan.status = "completed"
            case.status = "resolved"
            write_off = write_off or plan.conditional_waiver
            record_event(db, case, "plan_completed", "system", plan_id=plan.id)
    apply_to_loan(
        case.loan,
        payment.amount,
        local_today(case.loan.borrower.timezone),
        waived_penalties=plan.waived_penalties if plan and write_off else 0,
        waived_fees=plan.waived_fees if plan and write_off else 0,
    )


def _allocate_to_plan(plan: Plan, amount: int) -> None:
    """Pay the plan's installments oldest first."""
    for installment in plan.installments:
        due = installment.amount - installment.paid
        if amount <= 0:
            break
        if due > 0:
            paid = min(due, amount)
            installment.paid += paid
            amount -= paid
