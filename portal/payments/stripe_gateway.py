"""Stripe: every call to its SDK lives in this file.

PaymentIntents are created with an idempotency key per internal payment, amounts in the
currency's minor unit (Stripe's own convention for TWD, CNY, HKD and USD), and the case,
plan and payment ids in metadata. Webhook events are verified over the raw body before
anything is parsed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import stripe
from flask import current_app

from portal.payments.events import GatewayEvent, Outcome

SIGNATURE_TOLERANCE = 300  # seconds, as Stripe recommends

# The event types that move a payment, and the outcome each means.
OUTCOMES = {
    "payment_intent.succeeded": Outcome.SUCCEEDED,
    "payment_intent.payment_failed": Outcome.FAILED,
}


class SignatureError(ValueError):
    """The webhook's signature, timestamp or body does not verify."""


@dataclass(frozen=True)
class StripeSettings:
    """Where Stripe is and how to authenticate to it."""

    secret_key: str
    publishable_key: str
    webhook_secret: str
    api_base: str | None
    js_url: str

    @classmethod
    def from_config(cls) -> StripeSettings:
        """The settings of the current app."""
        config = current_app.config
        return cls(
            secret_key=config.get("STRIPE_SECRET_KEY", ""),
            publishable_key=config.get("STRIPE_PUBLISHABLE_KEY", ""),
            webhook_secret=config.get("STRIPE_WEBHOOK_SECRET", ""),
            api_base=config.get("STRIPE_API_BASE") or None,
            js_url=config.get("STRIPE_JS_URL") or "https://js.stripe.com/v3/",
        )


def client(settings: StripeSettings) -> stripe.StripeClient:
    """A client for the configured Stripe (or a local stand-in such as localstripe)."""
    addresses: Any = {"api": settings.api_base} if settings.api_base else None
    return stripe.StripeClient(settings.secret_key, base_addresses=addresses, max_network_retries=2)


def create_intent(
    settings: StripeSettings, payment_id: int, amount: int, currency: str, metadata: dict[str, str]
) -> tuple[str, str]:
    """Create (or, on a retry, get back) the PaymentIntent of one internal payment;
    returns its id and client secret."""
    intent = client(settings).v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": currency.lower(),
            "payment_method_types": ["card"],
            "metadata": {**metadata, "payment_id": str(payment_id)},
        },
        options={"idempotency_key": f"haohuan-payment-{payment_id}"},
    )
    return str(intent.id), str(intent.client_secret)


def retrieve_status(settings: StripeSettings, intent_id: str) -> str:
    """Stripe's own word on a PaymentIntent, for when events arrive out of order."""
    return str(client(settings).v1.payment_intents.retrieve(intent_id).status)


def verified_event(settings: StripeSettings, payload: bytes, signature: str) -> dict[str, Any]:
    """The event, once its signature and timestamp verify; raises ``SignatureError``."""
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, settings.webhook_secret, SIGNATURE_TOLERANCE
        )
        event = json.loads(payload.decode("utf-8"))
    except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as error:
        raise SignatureError(str(error)) from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise SignatureError("not an event")
    return event


def gateway_event(event: dict[str, Any]) -> GatewayEvent | None:
    """The internal event a Stripe event means, or None for a type we do not act on."""
    kind = str(event.get("type"))
    found = (event.get("data") or {}).get("object") or {}
    if kind in OUTCOMES:
        intent_id = found.get("id")
        if not isinstance(intent_id, str):
            return None
        return GatewayEvent("stripe", event["id"], intent_id, OUTCOMES[kind])
    intent_id = found.get("payment_intent")
    if not isinstance(intent_id, str):
        return None
    if kind == "charge.refunded":
        refunded = _whole(found.get("amount_refunded"))
        return GatewayEvent("stripe", event["id"], intent_id, Outcome.REFUNDED, refunded)
    if kind in ("charge.dispute.created", "charge.dispute.funds_withdrawn"):
        held = _whole(found.get("amount"))
        return GatewayEvent("stripe", event["id"], intent_id, Outcome.DISPUTED, held)
    if kind == "charge.dispute.closed":
        held = 0 if found.get("status") == "won" else _whole(found.get("amount"))
        return GatewayEvent("stripe", event["id"], intent_id, Outcome.DISPUTED, held)
    return None


def _whole(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
