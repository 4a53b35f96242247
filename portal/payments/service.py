"""Starting payments: one open payment per thing being paid, so a refresh, a back
button, a double click or a second tab resumes the same checkout instead of charging
twice. The unique index on open payments settles races between concurrent requests.

Commits: ``open_payment`` twice (the payment before the provider is asked, then the
provider's answer) and ``mark_unknown`` once; ``move_open`` and ``void_open_payments``
add their UPDATE to the caller's transaction and do not commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from negotiation import LoanSnapshot, PlanKind, PlanRequest, evaluate_request
from negotiation import Plan as Schedule
from portal.cases.facts import live_plan, policy, record_event, snapshot_of
from portal.core.db import by_id
from portal.core.i18n import money
from portal.models import OPEN_PAYMENT_STATUSES, Case, Payment, PaymentStatus, Plan
from portal.payments.gateway import GatewayUnavailableError, gateway
from portal.payments.sweeper import schedule_follow_up


@dataclass(frozen=True)
class Started:
    """Where to send the borrower, or a translated reason nothing was started."""

    redirect_url: str = ""
    error: str | None = None


def payment_for_case(db: Session, case: Case, payment_id: int) -> Payment | None:
    """The payment, only if it belongs to the case (another borrower's id gets None)."""
    payment = by_id(db, Payment, payment_id)
    return payment if payment is not None and payment.case_id == case.id else None


def open_payment(
    db: Session,
    case: Case,
    purpose: str,
    amount: int | None,
    today: date,
    now: datetime,
) -> Started:
    """Open (or resume) a payment and hand it to the gateway. Commits."""
    plan = live_plan(db, case)
    wanted = _what_to_pay(db, case, plan, purpose, amount, today)
    if isinstance(wanted, str):
        return Started(error=wanted)
    amount, plan_id = wanted
    payment = _open(db, case, purpose, plan_id)
    if payment is not None and payment.automatic:
        return _being_charged()
    if payment is not None and (payment.amount != amount or payment.gateway != gateway().name):
        # The amount changed (a part payment retyped), or the lender changed provider:
        # the old checkout is void.
        if (
            move_open(db, payment.id, PaymentStatus.VOIDED, voided_at=now)
            and payment.gateway_reference
        ):
            schedule_follow_up(payment.id)  # its intent is cancelled at the provider
        payment = None
    if payment is None:
        payment = Payment(
            case_id=case.id,
            plan_id=plan_id,
            purpose=purpose,
            amount=amount,
            currency=case.loan.currency,
            status=PaymentStatus.CREATED,
            gateway=gateway().name,
            created_at=now,
        )
        db.add(payment)
        try:
            db.flush()
        except IntegrityError:
            # A concurrent request opened it first: resume that one.
            db.rollback()
            payment = _open(db, case, purpose, plan_id)
            if payment is None:
                return Started(error=_("There is no plan payment due."))
            if payment.automatic:
                # The autopay run opened it between our look and our insert.
                return _being_charged()
        else:
            record_event(
                db, case, "payment_started", "borrower", payment_id=payment.id, amount=amount
            )
    # The payment exists before the provider is asked: an outage or a crash while
    # waiting loses nothing, and no database lock is held across the network.
    db.commit()
    try:
        checkout = gateway().start(payment)
    except GatewayUnavailableError:
        # Kept open as "unknown": trying again resumes this payment with the same
        # idempotency key, so the provider cannot charge for it twice.
        mark_unknown(db, payment)
        return Started(
            error=_(
                "We could not reach the card payment service. Nothing has been charged. "
                "Please try again in a few minutes."
            )
        )
    moved = move_open(db, payment.id, PaymentStatus.PENDING, gateway_reference=checkout.reference)
    db.commit()
    if not moved:
        # Settled or voided while the provider answered: show what it became.
        return Started(redirect_url=url_for("borrower.payment_result", payment_id=payment.id))
    return Started(redirect_url=checkout.redirect_url)


def _being_charged() -> Started:
    """The autopay run is charging this installment to the saved card right now: paying
    it by hand as well would pay it twice."""
    return Started(
        error=_(
            "Your saved card is being charged for this payment right now. Please "
            "check again in a few minutes."
        )
    )


def mark_unknown(db: Session, payment: Payment) -> None:
    """The provider could not be asked about an open payment: it stays open as
    "unknown" (unless a webhook or the sweeper settled it meanwhile, see ``move_open``),
    neither paid nor failed, and a Stripe payment that moved is checked again soon, off
    the request. Commits."""
    if move_open(db, payment.id, PaymentStatus.UNKNOWN) and payment.gateway == "stripe":
        schedule_follow_up(payment.id)
    db.commit()


def move_open(db: Session, payment_id: int, status: PaymentStatus, **values: object) -> bool:
    """Change a payment's status only while it is still open, in one conditional UPDATE:
    a payment a webhook or the sweeper settled meanwhile is never moved back. True when
    it moved."""
    moved = db.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.status.in_(OPEN_PAYMENT_STATUSES))
        .values(status=status, **values)
        .returning(Payment.id)
    ).first()
    return moved is not None


def _what_to_pay(
    db: Session, case: Case, plan: Plan | None, purpose: str, amount: int | None, today: date
) -> tuple[int, int | None] | str:
    """The amount and plan of a payment, or a translated reason it cannot be made."""
    if purpose == "installment":
        due = None if plan is None else plan.next_due
        if plan is None or due is None:
            return _("There is no plan payment due.")
        return due.outstanding, plan.id
    if purpose != "partial":
        return _("There is no plan payment due.")
    if plan is not None:
        return _("You have a plan: please pay its installments, so that it counts for the plan.")
    if amount is None or amount <= 0:
        return _("Enter the amount you want to pay.")
    snapshot = snapshot_of(db, case, today)
    least = least_part_payment(snapshot)
    if amount < least:
        return _("Please pay at least %(amount)s.", amount=money(least, case.loan.currency))
    whole = _pay_in_full(snapshot, today)
    if whole is not None and amount >= whole.total and whole.waiver.total:
        return _(
            "That clears everything overdue. Use “Pay everything overdue” instead: it is "
            "%(amount)s, because %(waived)s is waived.",
            amount=money(whole.total, case.loan.currency),
            waived=money(whole.waiver.total, case.loan.currency),
        )
    if amount > snapshot.arrears.total:
        return _(
            "That is more than is overdue. You can pay up to %(amount)s here.",
            amount=money(snapshot.arrears.total, case.loan.currency),
        )
    return amount, None


def least_part_payment(snapshot: LoanSnapshot) -> int:
    """The smallest part payment: the policy's minimum for the currency, or all that is
    overdue when that is less."""
    return min(policy().minimum_part_payment[snapshot.currency], snapshot.arrears.total)


def _pay_in_full(snapshot: LoanSnapshot, today: date) -> Schedule | None:
    """What paying everything overdue today costs, with the stage's waivers."""
    request = PlanRequest(PlanKind.PAY_IN_FULL, today)
    decision = evaluate_request(snapshot, policy(), today, request)
    return decision.proposal.plan if decision.proposal else None


def _open(db: Session, case: Case, purpose: str, plan_id: int | None) -> Payment | None:
    plan_filter = Payment.plan_id.is_(None) if plan_id is None else Payment.plan_id == plan_id
    return db.scalars(
        select(Payment).where(
            Payment.case_id == case.id,
            Payment.purpose == purpose,
            plan_filter,
            Payment.status.in_(OPEN_PAYMENT_STATUSES),
        )
    ).first()


def void_open_payments(db: Session, *, case_id: int, plan_id: int | None, now: datetime) -> None:
    """Close a case's open checkouts for one plan (or, with None, its part payments): a
    withdrawn plan cannot be paid any more, nor a part payment once a plan is agreed.
    A follow-up job, or the sweeper, cancels their intents at the provider (never from
    inside a transaction); money that still arrives for one is applied to the loan,
    never lost. Does not commit: the caller's change (a withdrawn plan, an agreed one)
    commits it."""
    plan_filter = Payment.plan_id.is_(None) if plan_id is None else Payment.plan_id == plan_id
    _void(db, case_id, plan_filter, now)


def void_case_payments(db: Session, *, case_id: int, now: datetime) -> None:
    """``void_open_payments`` for every open checkout of the case, whatever it pays (a
    balance written off leaves nothing to pay). Does not commit."""
    _void(db, case_id, true(), now)


def _void(db: Session, case_id: int, condition: ColumnElement[bool], now: datetime) -> None:
    voided = db.execute(
        update(Payment)
        .where(Payment.case_id == case_id, condition, Payment.status.in_(OPEN_PAYMENT_STATUSES))
        .values(status=PaymentStatus.VOIDED, voided_at=now)
        .returning(Payment.id, Payment.gateway, Payment.gateway_reference)
    ).all()
    for payment_id, provider, reference in voided:
        if provider == "stripe" and reference:
            # Cancelled at Stripe soon after the commit, by a job; the sweeper if it is lost.
            schedule_follow_up(payment_id)
