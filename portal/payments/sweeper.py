"""The sweeper: payments left open are settled by asking the provider directly.

A webhook can be lost, delayed or refused; a borrower can close the page. Any Stripe
payment still open after a few minutes is re-fetched, and Stripe's own answer goes
through the same event handler a webhook would, so a later webhook changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import stripe
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import OPEN_PAYMENT_STATUSES, Payment
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.stripe_gateway import StripeSettings, retrieve_status

log = logging.getLogger(__name__)

# What a PaymentIntent's status means for a payment that is still open.
SETTLED = {"succeeded": Outcome.SUCCEEDED, "canceled": Outcome.FAILED}


@dataclass(frozen=True)
class Swept:
    """What one sweep did."""

    checked: int
    succeeded: int
    failed: int


def sweep(db: Session, settings: StripeSettings, now: datetime, older_than: timedelta) -> Swept:
    """Re-fetch every Stripe payment open for longer than ``older_than`` and settle the
    ones Stripe has decided. Each settlement commits on its own."""
    cutoff = now - older_than
    open_payments = db.scalars(
        select(Payment)
        .where(
            Payment.gateway == "stripe",
            Payment.status.in_(OPEN_PAYMENT_STATUSES),
            Payment.gateway_reference.is_not(None),
            Payment.created_at < cutoff,
        )
        .order_by(Payment.created_at)
    ).all()
    counts = {Outcome.SUCCEEDED: 0, Outcome.FAILED: 0}
    for payment in open_payments:
        reference = str(payment.gateway_reference)
        try:
            status = retrieve_status(settings, reference)
        except stripe.StripeError as error:
            # One intent Stripe cannot answer for must not stop the others.
            log.warning("sweep could not fetch %s: %s", reference, type(error).__name__)
            continue
        outcome = SETTLED.get(status)
        if outcome is None:
            continue  # still with the borrower, or being processed
        event = GatewayEvent("stripe", f"sweep:{reference}:{outcome.value}", reference, outcome)
        if handle(db, event, now):
            counts[outcome] += 1
    return Swept(len(open_payments), counts[Outcome.SUCCEEDED], counts[Outcome.FAILED])
