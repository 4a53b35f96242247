"""Stripe as the portal's gateway: one PaymentIntent per internal payment, paid on our own
checkout page through Stripe's Payment Element, and settled from Stripe's own answer.

A payment's intent is created once (an idempotency key makes a retried create return the
first intent) and its id kept as the payment's reference; resuming never creates a
second intent. When Stripe cannot be reached the payment is left "unknown", which is
safe: the borrower never received a client secret, so nothing can have been charged,
and the next attempt or the sweeper asks again with the same key.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from flask import url_for
from sqlalchemy.orm import Session, object_session

from portal.models import Payment, Plan
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.gateway import Checkout, GatewayUnavailableError
from portal.payments.stripe_gateway import (
    SETTLED,
    Intent,
    StripeSettings,
    create_intent,
)

if TYPE_CHECKING:
    import stripe
else:
    from portal.payments import stripe_sdk as stripe

log = logging.getLogger(__name__)

# Intents that can still be paid, and so must be cancelled when we void their payment.
CANCELABLE = ("requires_payment_method", "requires_confirmation", "requires_action")


class StripeGateway:
    """PaymentIntents, confirmed in the browser by the Payment Element."""

    name = "stripe"

    def start(self, payment: Payment) -> Checkout:
        """The payment's intent (created now if it has none yet) and our checkout page."""
        reference = payment.gateway_reference or self.new_intent(payment)
        return Checkout(reference, url_for("checkout.page", payment_id=payment.id))

    def new_intent(self, payment: Payment) -> str:
        """Create the payment's intent, or get back the one a lost answer described."""
        settings = StripeSettings.from_config()
        try:
            intent_id, _secret = create_intent(
                settings,
                payment.id,
                idempotency_key(payment),
                payment.amount,
                payment.currency,
                intent_metadata(payment),
                wallets=settings.wallets,
            )
        except stripe.StripeError as error:
            log.warning("stripe unavailable for payment %s: %s", payment.id, type(error).__name__)
            raise GatewayUnavailableError(str(error)) from None
        return intent_id


def idempotency_key(payment: Payment) -> str:
    """The payment's own key: its id and the microsecond it was opened, so two databases
    (a restored backup, two environments on one Stripe test account) never share one."""
    opened = payment.created_at
    return f"haohuan-payment-{payment.id}-{int(opened.timestamp() * 1_000_000)}"


def intent_metadata(payment: Payment) -> dict[str, str]:
    """What finance and support need to find the payment from Stripe's dashboard."""
    metadata = {"case_id": str(payment.case_id), "purpose": payment.purpose}
    db = object_session(payment)
    if payment.plan_id is not None and db is not None:
        metadata["plan_id"] = str(payment.plan_id)
        plan = db.get(Plan, payment.plan_id)
        due = plan.next_due if plan else None
        if due is not None:
            metadata["installment_id"] = str(due.id)
    return metadata


def settle(db: Session, payment: Payment, intent: Intent, now: datetime, source: str) -> bool:
    """Apply what Stripe says of the payment's intent, through the same handler as a
    webhook (so whichever of the return page, the sweeper or the webhook comes first
    does the work, once). True when the intent is final. Commits when it applies."""
    outcome = SETTLED.get(intent.status)
    if outcome is None or intent.id != payment.gateway_reference:
        return False
    event_id = f"{source}:{intent.id}:{outcome.value}"
    if outcome is Outcome.SUCCEEDED:
        # Stripe's own amount and currency, compared with the payment's in ``handle``.
        event = GatewayEvent("stripe", event_id, intent.id, outcome, intent.amount, intent.currency)
    else:
        event = GatewayEvent("stripe", event_id, intent.id, outcome)
    handle(db, event, now)
    return True
