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

import stripe
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.models import OPEN_PAYMENT_STATUSES, Payment
from portal.payments.events import Outcome
from portal.payments.gateway import GatewayUnavailableError
from portal.payments.stripe_checkout import CANCELABLE, StripeGateway, settle
from portal.payments.stripe_gateway import (
    SETTLED,
    StripeSettings,
    cancel_intent,
    retrieve_intent,
)

log = logging.getLogger(__name__)

# How long after voiding a payment the sweeper still makes sure its intent is dead.
VOIDED_WATCH = timedelta(days=7)


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
    counts = {Outcome.SUCCEEDED: 0, Outcome.FAILED: 0}
    cancelled = 0
    for payment in payments:
        if payment.gateway_reference is None:
            _recover_reference(db, payment)
            continue
        reference = payment.gateway_reference
        try:
            intent = retrieve_intent(settings, reference)
            if payment.status == "voided" and intent.status in CANCELABLE:
                cancel_intent(settings, reference)
                cancelled += 1
                continue
        except stripe.StripeError as error:
            # One intent Stripe cannot answer for must not stop the others.
            log.warning("sweep could not check %s: %s", reference, type(error).__name__)
            continue
        outcome = SETTLED.get(intent.status)
        if outcome is None and payment.status == "unknown":
            # Stripe answers again and nothing is decided: the borrower can carry on.
            _reopen(db, payment.id)
        if outcome is Outcome.FAILED and payment.status == "voided":
            continue  # cancelled, as it should be
        if outcome is not None and settle(db, payment, intent, now, "sweep"):
            counts[outcome] += 1
    return Swept(len(payments), counts[Outcome.SUCCEEDED], counts[Outcome.FAILED], cancelled)


def _to_check(db: Session, open_before: datetime, voided_since: datetime) -> list[Payment]:
    still_open = (Payment.status.in_(OPEN_PAYMENT_STATUSES)) & (Payment.created_at < open_before)
    recently_voided = (
        (Payment.status == "voided")
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


def _recover_reference(db: Session, payment: Payment) -> None:
    """A create that timed out: ask again with the same key, and keep the intent's id
    (Stripe returns the intent the lost answer described, or makes the first one). Only
    a payment still open and still without an intent takes it: one voided meanwhile
    stays voided."""
    try:
        reference = StripeGateway().new_intent(payment)
    except GatewayUnavailableError:
        return
    db.execute(
        update(Payment)
        .where(
            Payment.id == payment.id,
            Payment.gateway_reference.is_(None),
            Payment.status.in_(OPEN_PAYMENT_STATUSES),
        )
        .values(gateway_reference=reference, status="pending")
    )
    db.commit()


def _reopen(db: Session, payment_id: int) -> None:
    db.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.status == "unknown")
        .values(status="pending")
    )
    db.commit()
