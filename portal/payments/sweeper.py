"""The sweeper: payments left open are settled by asking the provider directly.

A webhook can be lost, delayed or refused; a borrower can close the page; Stripe can be
down when a checkout starts. Every Stripe payment still open after a few minutes is
re-fetched and Stripe's own answer goes through the same event handler a webhook would,
so a later webhook changes nothing. A payment left "unknown" before it had an intent
asks again with the same idempotency key. Recently voided payments are checked too: an
intent that could still be paid is cancelled, and one that was paid anyway is applied
(money received is never left unrecorded).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.core import jobs
from portal.core.clock import now
from portal.core.db import session
from portal.models import OPEN_PAYMENT_STATUSES, Payment, PaymentStatus
from portal.payments.events import Outcome
from portal.payments.gateway import GatewayUnavailableError
from portal.payments.stripe_checkout import CANCELABLE, StripeGateway, settle
from portal.payments.stripe_gateway import (
    SETTLED,
    StripeSettings,
    cancel_intent,
    retrieve_intent,
)

if TYPE_CHECKING:
    import stripe
else:
    from portal.payments import stripe_sdk as stripe

log = logging.getLogger(__name__)

# How long after voiding a payment the sweeper still makes sure its intent is dead.
VOIDED_WATCH = timedelta(days=7)


# Waits before each re-check of a payment Stripe could not be asked about; after the
# last, the sweeper (from cron, every few minutes) carries on.
FOLLOW_UP_DELAYS = (timedelta(seconds=15), timedelta(minutes=1), timedelta(minutes=4))


class Checked(StrEnum):
    """What checking one payment with Stripe did."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Stripe answered and nothing is decided (or it was settled already).
    UNDECIDED = "undecided"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Swept:
    """What one sweep did."""

    checked: int
    succeeded: int
    failed: int
    cancelled: int = 0


def sweep(db: Session, settings: StripeSettings, now: datetime, older_than: timedelta) -> Swept:
    """Re-fetch every Stripe payment open for longer than ``older_than`` (and every one
    voided in the last week) and settle what Stripe has decided. Each settlement
    commits on its own."""
    payments = _to_check(db, now - older_than, now - VOIDED_WATCH)
    results = [check(db, settings, payment, now) for payment in payments]
    return Swept(
        len(payments),
        results.count(Checked.SUCCEEDED),
        results.count(Checked.FAILED),
        results.count(Checked.CANCELLED),
    )


def check(db: Session, settings: StripeSettings, payment: Payment, now: datetime) -> Checked:
    """Ask Stripe about one open or voided payment and act on its answer: recover a lost
    intent, cancel a voided one, settle a decided one, reopen an unknown one. Commits
    what it changes."""
    if payment.gateway_reference is None and payment.automatic:
        # An automatic charge whose answer was lost is asked again by the autopay run,
        # with its own key (an off-session charge): a checkout's intent is not its own.
        return Checked.UNDECIDED
    if payment.gateway_reference is None:
        return Checked.UNDECIDED if _recover_reference(db, payment) else Checked.UNREACHABLE
    reference = payment.gateway_reference
    try:
        intent = retrieve_intent(settings, reference)
        if payment.status == PaymentStatus.VOIDED and intent.status in CANCELABLE:
            cancel_intent(settings, reference)
            return Checked.CANCELLED
    except stripe.StripeError as error:
        # One intent Stripe cannot answer for must not stop the others.
        log.warning("could not check %s: %s", reference, type(error).__name__)
        return Checked.UNREACHABLE
    outcome = SETTLED.get(intent.status)
    if outcome is None and payment.status == PaymentStatus.UNKNOWN:
        # Stripe answers again and nothing is decided: the borrower can carry on.
        _reopen(db, payment.id)
    if outcome is Outcome.FAILED and payment.status == PaymentStatus.VOIDED:
        return Checked.UNDECIDED  # cancelled, as it should be
    if outcome is not None and settle(db, payment, intent, now, "sweep"):
        return Checked(outcome.value)
    return Checked.UNDECIDED


def schedule_follow_up(payment_id: int) -> None:
    """Re-check one payment with Stripe soon, off the request: after an outage left it
    unknown, or after it was voided (its intent is cancelled)."""
    jobs.enqueue(follow_up, payment_id, 0, delay=FOLLOW_UP_DELAYS[0])


def follow_up(payment_id: int, attempt: int = 0) -> None:
    """A job: check one payment alone, and again after a longer wait while Stripe still
    cannot be reached. A payment settled meanwhile is left alone."""
    database = session()
    payment = database.get(Payment, payment_id)
    if payment is None or payment.gateway != "stripe":
        return
    if payment.status not in OPEN_PAYMENT_STATUSES and payment.status != PaymentStatus.VOIDED:
        return
    checked = check(database, StripeSettings.from_config(), payment, now())
    if checked is Checked.UNREACHABLE and attempt + 1 < len(FOLLOW_UP_DELAYS):
        jobs.enqueue(follow_up, payment_id, attempt + 1, delay=FOLLOW_UP_DELAYS[attempt + 1])


def _to_check(db: Session, open_before: datetime, voided_since: datetime) -> list[Payment]:
    still_open = (Payment.status.in_(OPEN_PAYMENT_STATUSES)) & (Payment.created_at < open_before)
    recently_voided = (
        (Payment.status == PaymentStatus.VOIDED)
        & Payment.gateway_reference.is_not(None)
        & (func.coalesce(Payment.voided_at, Payment.created_at) >= voided_since)
    )
    return list(
        db.scalars(
            select(Payment)
            .where(Payment.gateway == "stripe", still_open | recently_voided)
            .order_by(Payment.created_at)
        )
    )


def _recover_reference(db: Session, payment: Payment) -> bool:
    """A create that timed out: ask again with the same key, and keep the intent's id
    (Stripe returns the intent the lost answer described, or makes the first one). Only
    a payment still open and still without an intent takes it: one voided meanwhile
    stays voided. False when Stripe could not be reached."""
    try:
        reference = StripeGateway().new_intent(payment)
    except GatewayUnavailableError:
        return False
    db.execute(
        update(Payment)
        .where(
            Payment.id == payment.id,
            Payment.gateway_reference.is_(None),
            Payment.status.in_(OPEN_PAYMENT_STATUSES),
        )
        .values(gateway_reference=reference, status=PaymentStatus.PENDING)
    )
    db.commit()
    return True


def _reopen(db: Session, payment_id: int) -> None:
    db.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.status == PaymentStatus.UNKNOWN)
        .values(status=PaymentStatus.PENDING)
    )
    db.commit()
