"""Gateway events: the one path by which a payment's outcome changes a case.

The sandbox's checkout page and the Stripe webhook both end here. Each event is handled
once: its id is written in the same transaction as its effects, under a unique
constraint, so a redelivery (or twenty at once) changes nothing more. A payment never
moves back from succeeded; money received is always applied to the loan, even when the
plan it was meant for has been withdrawn since.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.cases import record_event
from portal.clock import local_today
from portal.ledger import (
    apply_to_loan,
    write_off_balance,
    write_off_charges,
    write_off_future_interest,
)
from portal.models import Allocation, Case, Payment, Plan, ProcessedEvent

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """What a gateway says happened to a payment."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


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
    payment_id = _claim(db, event, now)
    if payment_id is not None:
        # Everything the claim may have changed under us is read again, fresh: objects
        # loaded earlier in this session (the borrower's case, a sweep's list) are stale.
        db.expire_all()
        payment = db.get(Payment, payment_id)
        assert payment is not None  # the row was just claimed  # noqa: S101
        case = db.get(Case, payment.case_id, with_for_update=True)
        assert case is not None  # a payment always belongs to a case  # noqa: S101
        if event.outcome is Outcome.SUCCEEDED:
            _succeed(db, case, payment, now)
        else:
            record_event(db, case, "payment_failed", "system", payment_id=payment.id)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        return False
    return True


def _claim(db: Session, event: GatewayEvent, now: datetime) -> int | None:
    """Move the payment to the event's outcome in one conditional UPDATE, so that of any
    number of concurrent handlers (a webhook, a sweep, a double click) exactly one gets
    it back; a success is final, a failure never overrides one. None when there is
    nothing to do."""
    if event.outcome is Outcome.SUCCEEDED:
        claim = (
            update(Payment)
            .where(Payment.gateway_reference == event.reference, Payment.status != "succeeded")
            .values(status="succeeded", confirmed_at=now)
        )
    else:
        claim = (
            update(Payment)
            .where(
                Payment.gateway_reference == event.reference,
                Payment.status.not_in(("succeeded", "failed")),
            )
            .values(status="failed")
        )
    claimed = db.execute(claim.returning(Payment.id)).scalars().first()
    if (
        claimed is None
        and not db.scalars(
            select(Payment.id).where(Payment.gateway_reference == event.reference)
        ).first()
    ):
        log.warning("gateway event %s names no payment we know", event.event_id)
    return claimed


def _succeed(db: Session, case: Case, payment: Payment, now: datetime) -> None:
    """Record the money, then let it move the plan it was for, if that plan is live; money
    that arrives for no plan while one is live counts for that plan."""
    record_event(
        db, case, "payment_succeeded", "system", payment_id=payment.id, amount=payment.amount
    )
    today = local_today(case.loan.borrower.timezone)
    plan = db.get(Plan, payment.plan_id, with_for_update=True) if payment.plan_id else None
    if plan is not None and plan.status not in ("pending", "active"):
        record_event(db, case, "payment_for_closed_plan", "system", plan_id=plan.id)
        plan = None
    if plan is None and payment.plan_id is None:
        plan = db.scalars(
            select(Plan)
            .where(Plan.case_id == case.id, Plan.status.in_(("pending", "active")))
            .with_for_update()
        ).first()
    if plan is None:
        _record(db, case, payment, apply_to_loan(case.loan, payment.amount, today))
        return
    first_payment = plan.status == "pending"
    if first_payment:
        _activate(db, case, plan, now, today)
    _allocate_to_plan(plan, payment.amount)
    completed = all(i.paid >= i.amount for i in plan.installments)
    if completed and plan.conditional_waiver:
        write_off_charges(case.loan, penalties=plan.waived_penalties, fees=plan.waived_fees)
    reserve = plan.conditional_waiver and not completed
    shares = apply_to_loan(
        case.loan,
        payment.amount,
        today,
        reserved_penalties=plan.waived_penalties if reserve else 0,
        reserved_fees=plan.waived_fees if reserve else 0,
    )
    if completed:
        if plan.discount:
            write_off_balance(case.loan, plan.discount)
        plan.status = "completed"
        case.status = "resolved"
        record_event(db, case, "plan_completed", "system", plan_id=plan.id)
    _record(db, case, payment, shares)


def _activate(db: Session, case: Case, plan: Plan, now: datetime, today: date) -> None:
    plan.status = "active"
    plan.activated_at = now
    case.status = "arranged"
    # An unconditional waiver is granted at once; a conditional one is earned by keeping
    # the plan to the end (and reinstated if it breaks).
    if not plan.conditional_waiver:
        write_off_charges(case.loan, penalties=plan.waived_penalties, fees=plan.waived_fees)
    if plan.kind in ("restructure", "settlement"):
        # Both deal with the whole balance: the contract's interest still to come is not
        # owed (a restructure charges its own instead; a settlement closes the loan).
        write_off_future_interest(case.loan, today)
    record_event(db, case, "plan_activated", "system", plan_id=plan.id)


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


def _record(db: Session, case: Case, payment: Payment, shares: list[Allocation]) -> None:
    """Keep where every part of the payment went; a credit is also told to the case."""
    for share in shares:
        share.payment_id = payment.id
        db.add(share)
        if share.target == "credit":
            record_event(db, case, "credit", "system", amount=share.amount)
