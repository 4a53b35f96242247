"""Refunds from the finance console: a finance member refunds a succeeded payment, in full
or in part, with a reason.

A refund is asked for (``request_refund``); above the currency's limit it waits for a
second finance member (``portal.finance.approval``) to approve it (``approve_refund``) or
cancel it (``cancel_refund``); otherwise it is sent at once. Sending calls the payment's
own gateway with the refund's idempotency key (drawn when the form was shown, so the
same form sent twice is one refund, and a retry after a lost answer is the same refund
at the provider), then settles the ledger through ``portal.payments.events.handle`` with
a REFUNDED event carrying the gateway's running total refunded: exactly the path a
refund reported by the gateway's own event takes, so the webhook that follows (Stripe's
``charge.refunded``, with the same running total) finds nothing left to do.

Commit boundaries, in order, so that what is recorded never claims more than happened:

1. the request (the row, its audit entry), before the gateway is called;
2. an approval or a cancellation (the status, its audit entry), before the gateway;
3. after the gateway answered: a refusal (failed, its code, audited) in one commit; a
   refund done first settles the ledger (``handle`` commits it, under its own
   once-only event id), then the refund is marked succeeded, audited and the borrower's
   notice queued, in one commit. A crash between the two leaves the refund sending:
   sending it again (``send_again``) gets the same refund from the gateway, the
   settlement is found already made, and only the last commit is made.

An unreachable gateway leaves the refund sending (nothing is known to have happened),
audited; a finance member sends it again later with the same key.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from portal.audit import trail
from portal.core.db import lock_row
from portal.finance.approval import (
    SamePersonError,
    approval_limit,
    check_second_person,
    needs_second_person,
)
from portal.messaging.purposes import REFUND_NOTICE
from portal.messaging.service import queue_notice
from portal.models import (
    IN_FLIGHT_REFUND_STATUSES,
    Case,
    Payment,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    StaffMember,
)
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.gateway import GatewayUnavailableError, gateway

log = logging.getLogger(__name__)

# The longest note kept with a refund (the form says so too).
LONGEST_NOTE = 500


class RefundProblem(StrEnum):
    """Why a refund cannot be asked for, approved, cancelled or sent (the console says it
    in words, ``portal.wording.finance``)."""

    NO_SUCH_PAYMENT = "no_such_payment"
    NOT_SUCCEEDED = "not_succeeded"
    NOT_POSITIVE = "not_positive"
    TOO_MUCH = "too_much"
    NOTE_NEEDED = "note_needed"
    NO_SUCH_REFUND = "no_such_refund"
    NOT_WAITING = "not_waiting"
    NOT_SENDING = "not_sending"
    SAME_PERSON = "same_person"


class RefundError(ValueError):
    """A refund refused for ``problem``; nothing was written."""

    def __init__(self, problem: RefundProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class Refundable:
    """What can still be refunded of a payment: what it keeps, less refunds in flight."""

    kept: int
    in_flight: int

    @property
    def amount(self) -> int:
        """The most a new refund may be."""
        return max(self.kept - self.in_flight, 0)


def new_key() -> str:
    """A refund's idempotency key, drawn when its form is shown."""
    return secrets.token_urlsafe(24)


def refundable(db: Session, payment: Payment) -> Refundable:
    """What of ``payment`` a new refund may take: nothing unless it succeeded."""
    if payment.status != PaymentStatus.SUCCEEDED:
        return Refundable(0, 0)
    in_flight = db.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment.id, Refund.status.in_(IN_FLIGHT_REFUND_STATUSES)
        )
    )
    return Refundable(max(payment.kept, 0), int(in_flight or 0))


@dataclass(frozen=True)
class RefundLine:
    """A refund as the console lists it: with its payment and who asked and decided."""

    refund: Refund
    payment: Payment
    requested_by: str
    decided_by: str | None


@dataclass(frozen=True)
class PaymentRefunds:
    """What the payment page shows of refunds: what can still be refunded, the most one
    person may refund alone (None: every amount needs a second person), and the
    payment's refunds, latest first."""

    refundable: Refundable
    limit: int | None
    lines: list[RefundLine]


def payment_refunds(db: Session, payment: Payment) -> PaymentRefunds:
    """The refunds panel of ``payment``'s page."""
    found = _lines(db, Refund.payment_id == payment.id, newest_first=True)
    return PaymentRefunds(refundable(db, payment), approval_limit(payment.currency), found)


def open_refunds(db: Session) -> list[RefundLine]:
    """Refunds waiting for a second finance member, or left being sent (the gateway
    could not be reached), oldest first."""
    return _lines(db, Refund.status.in_(IN_FLIGHT_REFUND_STATUSES), newest_first=False)


def _lines(db: Session, criterion: ColumnElement[bool], *, newest_first: bool) -> list[RefundLine]:
    asked, decided = aliased(StaffMember), aliased(StaffMember)
    order = (Refund.id.desc(),) if newest_first else (Refund.requested_at, Refund.id)
    rows = db.execute(
        select(Refund, Payment, asked.name, decided.name)
        .join(Payment, Payment.id == Refund.payment_id)
        .join(asked, asked.id == Refund.requested_by)
        .outerjoin(decided, decided.id == Refund.decided_by)
        .where(criterion)
        .order_by(*order)
    )
    return [RefundLine(r, p, a, d) for r, p, a, d in rows]


def request_refund(
    db: Session,
    payment_id: int,
    amount: int,
    reason: RefundReason,
    note: str,
    staff: StaffMember,
    key: str,
    now: datetime,
) -> Refund:
    """Ask for a refund of ``amount`` (minor units) of the payment, and send it at once
    when one person may make it. The same ``key`` again (the same form sent twice)
    returns the refund it made, whatever became of it. Raises ``RefundError``."""
    existing = _by_key(db, key)
    if existing is not None:
        if existing.payment_id != payment_id:
            # A key drawn for another payment's form: a tampered or replayed request.
            raise RefundError(RefundProblem.NO_SUCH_PAYMENT)
        return existing
    note = note.strip()
    if reason is RefundReason.OTHER and not note:
        raise RefundError(RefundProblem.NOTE_NEEDED)
    if amount <= 0:
        raise RefundError(RefundProblem.NOT_POSITIVE)
    payment = db.get(Payment, payment_id)
    if payment is None:
        raise RefundError(RefundProblem.NO_SUCH_PAYMENT)
    # Refunds of one payment are asked for one at a time: what is left is counted and
    # spoken for under the payment's lock.
    lock_row(db, Payment, payment.id)
    db.refresh(payment)
    if payment.status != PaymentStatus.SUCCEEDED or not payment.gateway_reference:
        db.rollback()
        raise RefundError(RefundProblem.NOT_SUCCEEDED)
    if amount > refundable(db, payment).amount:
        db.rollback()
        raise RefundError(RefundProblem.TOO_MUCH)
    waits = needs_second_person(amount, payment.currency)
    refund = Refund(
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        reason=reason,
        note=note[:LONGEST_NOTE],
        status=RefundStatus.AWAITING_APPROVAL if waits else RefundStatus.SENDING,
        requested_by=staff.id,
        requested_at=now,
        idempotency_key=key,
    )
    db.add(refund)
    db.flush()
    trail.record(
        db,
        staff,
        "finance.refund.request",
        now,
        case_id=payment.case_id,
        payment_id=payment.id,
        refund_id=refund.id,
        amount=amount,
        currency=payment.currency,
        reason=reason.value,
        needs_approval=waits,
    )
    try:
        db.commit()
    except IntegrityError:
        # The same form sent twice at once: the other request made the refund.
        db.rollback()
        found = _by_key(db, key)
        if found is None or found.payment_id != payment_id:
            raise
        return found
    if not waits:
        _send(db, refund, staff, now)
    return refund


def approve_refund(db: Session, refund_id: int, approver: StaffMember, now: datetime) -> Refund:
    """A second finance member approves a waiting refund, which is then sent. Raises
    ``RefundError``: not waiting, or the approver is the one who asked (or is not an
    active finance member)."""
    refund = _locked(db, refund_id)
    if refund.status != RefundStatus.AWAITING_APPROVAL:
        db.rollback()
        raise RefundError(RefundProblem.NOT_WAITING)
    try:
        check_second_person(refund.requested_by, approver)
    except SamePersonError:
        db.rollback()
        raise RefundError(RefundProblem.SAME_PERSON) from None
    refund.status = RefundStatus.SENDING
    refund.decided_by, refund.decided_at = approver.id, now
    _audit(db, approver, "finance.refund.approve", refund, now)
    db.commit()
    _send(db, refund, approver, now)
    return refund


def cancel_refund(db: Session, refund_id: int, staff: StaffMember, now: datetime) -> Refund:
    """A finance member cancels a refund still waiting for approval (the second person
    refusing it, or the one who asked taking it back). Raises ``RefundError``."""
    refund = _locked(db, refund_id)
    if refund.status != RefundStatus.AWAITING_APPROVAL:
        db.rollback()
        raise RefundError(RefundProblem.NOT_WAITING)
    refund.status = RefundStatus.CANCELLED
    refund.decided_by, refund.decided_at, refund.finished_at = staff.id, now, now
    _audit(db, staff, "finance.refund.cancel", refund, now)
    db.commit()
    return refund


def send_again(db: Session, refund_id: int, staff: StaffMember, now: datetime) -> Refund:
    """Send a refund left sending (the gateway could not be reached, or the settlement
    was cut short) again, under the same key: the gateway answers with the refund it
    made, if it made one. Raises ``RefundError`` when the refund is not sending."""
    refund = _locked(db, refund_id)
    if refund.status != RefundStatus.SENDING:
        db.rollback()
        raise RefundError(RefundProblem.NOT_SENDING)
    db.commit()
    _send(db, refund, staff, now)
    return refund


def gateway_key(refund: Refund) -> str:
    """The idempotency key the gateway is called with: the refund's own."""
    return f"haohuan-refund-{refund.idempotency_key}"


def _send(db: Session, refund: Refund, actor: StaffMember, now: datetime) -> None:
    """Call the payment's gateway, then record what it answered (see the module's
    commit boundaries)."""
    payment = db.get_one(Payment, refund.payment_id)
    try:
        answer = gateway(payment.gateway).refund(payment, refund.amount, gateway_key(refund))
    except GatewayUnavailableError:
        log.warning("refund %s: the gateway could not be reached", refund.id)
        _audit(db, actor, "finance.refund.unreachable", refund, now)
        db.commit()
        return
    if not answer.succeeded:
        moved = _finish(db, refund, RefundStatus.FAILED, now, answer.reference, answer.code)
        if moved:
            _audit(db, actor, "finance.refund.fail", refund, now, code=answer.code)
        db.commit()
        return
    # The ledger first, exactly as a refund the gateway reports: once, by this event id.
    event = GatewayEvent(
        payment.gateway,
        f"console_refund_{refund.id}",
        payment.gateway_reference or "",
        Outcome.REFUNDED,
        answer.refunded,
    )
    handle(db, event, now)
    if _finish(db, refund, RefundStatus.SUCCEEDED, now, answer.reference, None):
        _audit(db, actor, "finance.refund.succeed", refund, now, gateway_refund_id=answer.reference)
        case = db.get_one(Case, payment.case_id)
        queue_notice(db, case, REFUND_NOTICE, now, who=actor.email)
    db.commit()


def _finish(
    db: Session,
    refund: Refund,
    status: RefundStatus,
    now: datetime,
    reference: str | None,
    code: str | None,
) -> bool:
    """Move a sending refund to ``status`` in one conditional UPDATE, so of two senders
    at once exactly one records it. True for the one that did."""
    moved = db.execute(
        update(Refund)
        .where(Refund.id == refund.id, Refund.status == RefundStatus.SENDING)
        .values(
            status=status,
            gateway_refund_id=reference,
            failure_code=(code or "")[:64] or None,
            finished_at=now,
        )
        .returning(Refund.id)
    ).first()
    db.refresh(refund)
    return moved is not None


def _audit(
    db: Session, actor: StaffMember, action: str, refund: Refund, now: datetime, **more: object
) -> None:
    payment = db.get_one(Payment, refund.payment_id)
    trail.record(
        db,
        actor,
        action,
        now,
        case_id=payment.case_id,
        payment_id=payment.id,
        refund_id=refund.id,
        amount=refund.amount,
        currency=refund.currency,
        **more,
    )


def _by_key(db: Session, key: str) -> Refund | None:
    return db.scalars(select(Refund).where(Refund.idempotency_key == key)).first()


def _locked(db: Session, refund_id: int) -> Refund:
    refund = db.get(Refund, refund_id)
    if refund is None:
        raise RefundError(RefundProblem.NO_SUCH_REFUND)
    lock_row(db, Refund, refund.id)
    db.refresh(refund)
    return refund
