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

from negotiation import AttemptOutcome
from portal.models import Borrower, Payment, Plan, SavedCard
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.gateway import (
    CardDetails,
    CardSetup,
    Charged,
    Checkout,
    DisputeRefusedError,
    GatewayUnavailableError,
    Refunded,
)
from portal.payments.stripe_gateway import (
    REFUND_TAKEN,
    SETTLED,
    UNUSABLE_CARD_CODES,
    Intent,
    StripeSettings,
    charge_off_session,
    create_customer,
    create_intent,
    create_refund,
    create_setup_intent,
    detach_method,
    off_session_made,
    retrieve_method,
    retrieve_setup,
    submit_dispute_evidence,
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

    def begin_card_setup(self, borrower: Borrower, customer_ref: str | None, key: str) -> CardSetup:
        """The borrower's Customer (created on their first card) and a SetupIntent for
        the card, entered on our page through the Payment Element."""
        settings = StripeSettings.from_config()
        metadata = {"borrower": borrower.reference}
        try:
            customer = customer_ref or create_customer(settings, f"{key}-customer", metadata)
            setup_id, _secret = create_setup_intent(settings, customer, f"{key}-setup", metadata)
        except stripe.StripeError as error:
            log.warning("stripe unavailable for a card setup: %s", type(error).__name__)
            raise GatewayUnavailableError(str(error)) from None
        return CardSetup(customer, setup_id, url_for("autopay.card", reference=setup_id))

    def card_from_setup(self, customer_ref: str, reference: str) -> CardDetails | None:
        """The card the SetupIntent saved, once it succeeded for this customer."""
        try:
            state = retrieve_setup(StripeSettings.from_config(), reference)
        except stripe.StripeError as error:
            raise GatewayUnavailableError(str(error)) from None
        if state.status != "succeeded" or state.method is None or state.customer != customer_ref:
            return None
        return CardDetails(
            customer_ref=customer_ref,
            method_ref=state.method,
            brand=state.brand or "card",
            last4=state.last4,
            exp_month=state.exp_month,
            exp_year=state.exp_year,
        )

    def charge_saved(
        self, payment: Payment, card: SavedCard, key: str, resume: bool = False
    ) -> Charged:
        """An off-session PaymentIntent on the saved card; Stripe's refusal, if any, read
        as what it means for autopay. Resumed, the intent already made for the payment
        is looked for first: Stripe may prune an idempotency key once it is 24 hours old,
        and the key alone would then charge the card a second time."""
        settings = StripeSettings.from_config()
        try:
            found = off_session_made(settings, card.customer_ref, payment.id) if resume else None
            answer = found or charge_off_session(
                settings,
                key,
                payment.amount,
                payment.currency,
                card.customer_ref,
                card.method_ref,
                {**intent_metadata(payment), "payment_id": str(payment.id), "automatic": "1"},
            )
        except stripe.StripeError as error:
            log.warning("stripe unavailable for payment %s: %s", payment.id, type(error).__name__)
            raise GatewayUnavailableError(str(error)) from None
        return Charged(
            _outcome(answer.status, answer.code, answer.decline_code),
            answer.intent_id,
            answer.decline_code or answer.code,
        )

    def refresh_card(self, card: SavedCard) -> CardDetails | None:
        """The PaymentMethod as Stripe has it: None once it is no longer the customer's."""
        try:
            state = retrieve_method(StripeSettings.from_config(), card.method_ref)
        except stripe.StripeError as error:
            raise GatewayUnavailableError(str(error)) from None
        if state is None or state.customer != card.customer_ref:
            return None
        return CardDetails(
            card.customer_ref,
            card.method_ref,
            state.brand or card.brand,
            state.last4 or card.last4,
            state.exp_month,
            state.exp_year,
        )

    def forget_card(self, card: SavedCard) -> None:
        """Detach the card from the borrower's Customer."""
        try:
            detach_method(StripeSettings.from_config(), card.method_ref)
        except stripe.StripeError as error:
            raise GatewayUnavailableError(str(error)) from None

    def submit_dispute_evidence(self, reference: str, evidence: dict[str, str], key: str) -> str:
        """The evidence sent through Stripe's dispute API and submitted; a refusal (a
        dispute closed, past its due date, or evidence already submitted) is Stripe's
        answer, anything else an outage."""
        try:
            return submit_dispute_evidence(StripeSettings.from_config(), reference, evidence, key)
        except stripe.InvalidRequestError as error:
            log.warning("stripe refused evidence for dispute %s: %s", reference, error)
            raise DisputeRefusedError(str(error)) from None
        except stripe.StripeError as error:
            raise GatewayUnavailableError(str(error)) from None

    def refund(self, payment: Payment, amount: int, key: str) -> Refunded:
        """A Refund of the payment's PaymentIntent, under the console refund's key; the
        running total from the charge Stripe refunded."""
        if not payment.gateway_reference:
            return Refunded(False, None, code="no_payment_intent")
        # Only what never changes: the same key with other parameters is refused.
        metadata = {"case_id": str(payment.case_id), "payment_id": str(payment.id)}
        try:
            state = create_refund(
                StripeSettings.from_config(), payment.gateway_reference, amount, key, metadata
            )
        except stripe.StripeError as error:
            log.warning("stripe unavailable to refund %s: %s", payment.id, type(error).__name__)
            raise GatewayUnavailableError(str(error)) from None
        if state.code is not None or state.status not in REFUND_TAKEN:
            return Refunded(False, state.id, code=state.code or state.status)
        return Refunded(True, state.id, state.refunded)


def _outcome(status: str, code: str | None, decline_code: str | None) -> AttemptOutcome:
    """What an off-session intent's status, or Stripe's refusal, means for autopay."""
    if status == "succeeded":
        return AttemptOutcome.SUCCEEDED
    if (
        status == "requires_action"
        or code == "authentication_required"
        or (decline_code == "authentication_required")
    ):
        return AttemptOutcome.NEEDS_AUTHENTICATION
    if (
        code in UNUSABLE_CARD_CODES
        or decline_code in UNUSABLE_CARD_CODES
        or code
        in (
            "resource_missing",
            "missing",
            "payment_method_unexpected_state",
        )
    ):
        return AttemptOutcome.CARD_UNUSABLE
    if status == "processing":
        # Stripe will say how it ended (the webhook, or the next run asking again).
        return AttemptOutcome.CHARGING
    return AttemptOutcome.DECLINED


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
