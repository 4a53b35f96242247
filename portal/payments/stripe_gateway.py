"""Stripe: every call to its SDK lives in this file.

PaymentIntents are created with an idempotency key per internal payment, amounts in the
currency's minor unit (Stripe's own convention for TWD, CNY, HKD and USD), and the case,
plan and payment ids in metadata. Webhook events are verified over the raw body before
anything is parsed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app

from portal.payments.disputes import DisputeFacts
from portal.payments.events import GatewayEvent, Outcome

if TYPE_CHECKING:
    import stripe
    from stripe.params import PaymentIntentCreateParams, PayoutListParamsCreated
else:
    from portal.payments import stripe_sdk as stripe

SIGNATURE_TOLERANCE = 300  # seconds, as Stripe recommends

# The event types that move a payment, and the outcome each means.
OUTCOMES = {
    "payment_intent.succeeded": Outcome.SUCCEEDED,
    # A failed attempt leaves the intent payable with another card: not the end.
    "payment_intent.payment_failed": Outcome.DECLINED,
    "payment_intent.canceled": Outcome.FAILED,
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
    wallets: bool = True
    # Per attempt, and attempts after the first: together under the request budget
    # (STRIPE_TIMEOUT, STRIPE_RETRIES; checked in portal.core.settings).
    timeout: float = 4.0
    retries: int = 1

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
            wallets=str(config.get("STRIPE_WALLETS", "1")).lower() not in ("0", "false", "no"),
            timeout=float(config.get("STRIPE_TIMEOUT", 4.0)),
            retries=int(config.get("STRIPE_RETRIES", 1)),
        )


@functools.lru_cache(maxsize=8)
def client(settings: StripeSettings) -> stripe.StripeClient:
    """A client for the configured Stripe (or a local stand-in such as localstripe),
    one per settings: its HTTP sessions are per thread and keep their connections."""
    addresses: Any = {"api": settings.api_base} if settings.api_base else None
    return stripe.StripeClient(
        settings.secret_key,
        base_addresses=addresses,
        max_network_retries=settings.retries,
        # Stripe answers in well under a second; a borrower should not wait 80 s (the
        # SDK's default), nor 3 x 10 s, for an outage to be noticed: every attempt and
        # pause of one call stays under the request budget.
        http_client=stripe.RequestsClient(timeout=settings.timeout),
    )


# Wallets Stripe can take in a currency, besides cards. Alipay and WeChat Pay settle in
# these currencies only; a Taiwan-dollar loan is paid by card.
WALLETS = {
    "CNY": ("alipay", "wechat_pay"),
    "HKD": ("alipay", "wechat_pay"),
    "USD": ("alipay", "wechat_pay"),
}

# What a PaymentIntent's status means for a payment of ours that is still open; the
# other statuses mean it is still with the borrower or being processed.
SETTLED = {"succeeded": Outcome.SUCCEEDED, "canceled": Outcome.FAILED}


@dataclass(frozen=True)
class Intent:
    """What the portal needs to know of one PaymentIntent."""

    id: str
    status: str
    client_secret: str
    amount: int
    currency: str


def payment_method_types(currency: str, wallets: bool = True) -> list[str]:
    """Card everywhere; Alipay and WeChat Pay where the currency allows them."""
    return ["card", *(WALLETS.get(currency.upper(), ()) if wallets else ())]


def create_intent(
    settings: StripeSettings,
    payment_id: int,
    idempotency_key: str,
    amount: int,
    currency: str,
    metadata: dict[str, str],
    wallets: bool = False,
) -> tuple[str, str]:
    """Create (or, on a retry, get back) the PaymentIntent of one internal payment;
    returns its id and client secret. The idempotency key is the payment's own, so a
    retry after a timeout returns the intent the lost response described."""
    types = payment_method_types(currency, wallets)
    params: PaymentIntentCreateParams = {
        "amount": amount,
        "currency": currency.lower(),
        # The SDK's API version (2026-09-30.endive on) refuses payment_method_types with
        # a 400; the allowed list keeps the methods the currency and amount can take.
        "allowed_payment_method_types": types,
        "metadata": {**metadata, "payment_id": str(payment_id)},
    }
    if "wechat_pay" in types:
        params["payment_method_options"] = {"wechat_pay": {"client": "web"}}
    intent = client(settings).v1.payment_intents.create(
        params=params, options={"idempotency_key": idempotency_key}
    )
    return str(intent.id), str(intent.client_secret)


def retrieve_intent(settings: StripeSettings, intent_id: str) -> Intent:
    """Stripe's own word on a PaymentIntent: never trust a return URL's query for it."""
    intent = client(settings).v1.payment_intents.retrieve(intent_id)
    return Intent(
        id=str(intent.id),
        status=str(intent.status),
        client_secret=str(intent.client_secret),
        amount=int(intent.amount),
        currency=str(intent.currency).upper(),
    )


def cancel_intent(settings: StripeSettings, intent_id: str) -> None:
    """Make an abandoned intent unpayable (an old tab cannot charge a voided payment)."""
    client(settings).v1.payment_intents.cancel(
        intent_id, options={"idempotency_key": f"haohuan-cancel-{intent_id}"}
    )


# Saved cards and off-session charges (automatic plan payments) ----------------------------

# Decline codes that mean the card itself can no longer be charged, rather than this
# charge being refused: autopay is turned off and the borrower told, never retried.
UNUSABLE_CARD_CODES = frozenset(
    {"expired_card", "lost_card", "stolen_card", "pickup_card", "card_not_supported"}
)


@dataclass(frozen=True)
class SetupState:
    """A SetupIntent as Stripe has it: its status, and the card it saved (when it did)."""

    status: str
    customer: str | None
    method: str | None
    brand: str = ""
    last4: str = ""
    exp_month: int = 0
    exp_year: int = 0


@dataclass(frozen=True)
class OffSession:
    """What an off-session PaymentIntent came to: its id (None when Stripe made none),
    its status, and Stripe's error code (and decline code) when it was refused."""

    intent_id: str | None
    status: str
    code: str | None = None
    decline_code: str | None = None


def create_customer(settings: StripeSettings, key: str, metadata: dict[str, str]) -> str:
    """A Stripe Customer for a borrower (their reference in metadata, nothing else of
    them: Stripe needs no name or address to keep a card for us)."""
    customer = client(settings).v1.customers.create(
        params={"metadata": metadata}, options={"idempotency_key": key}
    )
    return str(customer.id)


def create_setup_intent(
    settings: StripeSettings, customer: str, key: str, metadata: dict[str, str]
) -> tuple[str, str]:
    """A SetupIntent saving a card to ``customer`` for charges made while the borrower is
    away (``usage=off_session``: the bank may ask for authentication now, once, so later
    charges need none); returns its id and client secret."""
    intent = client(settings).v1.setup_intents.create(
        params={
            "customer": customer,
            "usage": "off_session",
            # Cards only: Alipay and WeChat Pay cannot be charged off session here.
            "allowed_payment_method_types": ["card"],
            "metadata": metadata,
        },
        options={"idempotency_key": key},
    )
    return str(intent.id), str(intent.client_secret)


def retrieve_setup(settings: StripeSettings, setup_id: str) -> SetupState:
    """Stripe's own word on a SetupIntent, with the card it saved."""
    intent = client(settings).v1.setup_intents.retrieve(
        setup_id, params={"expand": ["payment_method"]}
    )
    method: Any = intent.payment_method
    customer = _id(intent.customer)
    if method is None or isinstance(method, str):
        return SetupState(str(intent.status), customer, method)
    card: Any = getattr(method, "card", None)
    return SetupState(
        status=str(intent.status),
        customer=customer,
        method=str(method.id),
        brand=str(getattr(card, "brand", "") or ""),
        last4=str(getattr(card, "last4", "") or ""),
        exp_month=int(getattr(card, "exp_month", 0) or 0),
        exp_year=int(getattr(card, "exp_year", 0) or 0),
    )


def retrieve_method(settings: StripeSettings, method: str) -> SetupState | None:
    """A saved PaymentMethod as Stripe has it now (its customer and card), or None when
    Stripe has no such method. ``status`` is empty: a method has none."""
    try:
        found: Any = client(settings).v1.payment_methods.retrieve(method)
    except stripe.InvalidRequestError as error:
        if error.http_status == 404:
            return None
        raise
    card: Any = getattr(found, "card", None)
    return SetupState(
        status="",
        customer=_id(found.customer),
        method=str(found.id),
        brand=str(getattr(card, "brand", "") or ""),
        last4=str(getattr(card, "last4", "") or ""),
        exp_month=int(getattr(card, "exp_month", 0) or 0),
        exp_year=int(getattr(card, "exp_year", 0) or 0),
    )


def setup_secret(settings: StripeSettings, setup_id: str) -> tuple[str, str]:
    """A SetupIntent's status and the client secret the Payment Element confirms it
    with (the borrower's browser, never our server, sends the card to Stripe)."""
    intent = client(settings).v1.setup_intents.retrieve(setup_id)
    return str(intent.status), str(intent.client_secret or "")


def charge_off_session(
    settings: StripeSettings,
    key: str,
    amount: int,
    currency: str,
    customer: str,
    method: str,
    metadata: dict[str, str],
) -> OffSession:
    """Create and confirm a PaymentIntent on a saved card with the borrower away. A
    refusal (a decline, authentication required, a card gone) is an answer, not an
    error; only an unreachable Stripe raises (``stripe.StripeError`` other than
    ``CardError`` and ``InvalidRequestError``). The idempotency key makes a retry after a
    lost answer return the first intent, never a second charge."""
    try:
        intent = client(settings).v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": currency.lower(),
                "customer": customer,
                "payment_method": method,
                "off_session": True,
                "confirm": True,
                "allowed_payment_method_types": ["card"],
                "metadata": metadata,
            },
            options={"idempotency_key": key},
        )
    except stripe.CardError as error:
        found: Any = getattr(error, "error", None)
        refused: Any = getattr(found, "payment_intent", None)
        return OffSession(
            intent_id=_id(refused) if refused is not None else None,
            status="requires_payment_method",
            code=error.code,
            decline_code=getattr(found, "decline_code", None),
        )
    except stripe.InvalidRequestError as error:
        if error.http_status in (400, 404) and (
            getattr(error, "param", None) in ("payment_method", "customer")
            or not _attached(settings, method, customer)
        ):
            # The card (or the customer) is gone at Stripe: detached, deleted.
            return OffSession(None, "requires_payment_method", code=error.code or "missing")
        raise
    return OffSession(str(intent.id), str(intent.status))


def _attached(settings: StripeSettings, method: str, customer: str) -> bool:
    """True when Stripe still has the card attached to the customer. Stripe refuses a
    card detached from its customer with a 400 that names no parameter and has no code
    (only a sentence), so after a refusal naming neither, Stripe is asked."""
    try:
        found = client(settings).v1.payment_methods.retrieve(method)
    except stripe.InvalidRequestError as error:
        if error.http_status == 404:
            return False
        raise
    return _id(found.customer) == customer


def off_session_made(settings: StripeSettings, customer: str, payment_id: int) -> OffSession | None:
    """The off-session PaymentIntent already made for our payment ``payment_id`` (its
    metadata names it), newest first among the customer's, or None when there is none.
    A refused one is read as Stripe's refusal was (``last_payment_error``)."""
    listed = client(settings).v1.payment_intents.list(params={"customer": customer, "limit": 100})
    for intent in listed.auto_paging_iter():
        kept: Any = intent.metadata
        metadata: dict[str, Any] = kept.to_dict() if kept is not None else {}
        if metadata.get("payment_id") != str(payment_id) or metadata.get("automatic") != "1":
            continue
        error: Any = intent.last_payment_error
        return OffSession(
            str(intent.id),
            str(intent.status),
            code=getattr(error, "code", None) if error else None,
            decline_code=getattr(error, "decline_code", None) if error else None,
        )
    return None


def detach_method(settings: StripeSettings, method: str) -> None:
    """Detach a saved card from its customer: it can never be charged again. A card
    already gone is not an error."""
    try:
        client(settings).v1.payment_methods.detach(method)
    except stripe.InvalidRequestError as error:
        if error.http_status not in (400, 404):
            raise


def submit_dispute_evidence(
    settings: StripeSettings, dispute_id: str, evidence: dict[str, str], key: str
) -> str:
    """Send the evidence for a dispute and submit it (``submit=true``: Stripe sends it to
    the bank at once, and no more can be added); returns the dispute's status after
    (``under_review``). https://docs.stripe.com/api/disputes/update"""
    params: Any = {"evidence": evidence, "submit": True}
    dispute = client(settings).v1.disputes.update(
        dispute_id, params=params, options={"idempotency_key": key}
    )
    return str(dispute.status)


# Refunds from the finance console --------------------------------------------------------

# A refund Stripe has taken on: a card refund is ``succeeded`` at once, one on some other
# methods ``pending`` until the bank confirms; Stripe counts both in the charge's
# ``amount_refunded`` (what its ``charge.refunded`` event reports).
REFUND_TAKEN = frozenset({"succeeded", "pending"})


@dataclass(frozen=True)
class RefundState:
    """What a refund came to at Stripe: its id (None when Stripe made none), its status,
    the charge's running total refunded after it, and Stripe's code for a refusal."""

    id: str | None
    status: str
    refunded: int = 0
    code: str | None = None


def create_refund(
    settings: StripeSettings, intent_id: str, amount: int, key: str, metadata: dict[str, str]
) -> RefundState:
    """Refund ``amount`` of the PaymentIntent's charge. The idempotency key is the console
    refund's own, so a retry after a lost answer (or a double click) returns the first
    refund, never a second. Stripe's refusal (an amount larger than what is left, an
    intent it does not know, a key reused for another refund) is an answer with its code;
    only an unreachable Stripe raises (``stripe.StripeError``)."""
    try:
        refund = client(settings).v1.refunds.create(
            params={"payment_intent": intent_id, "amount": amount, "metadata": metadata},
            options={"idempotency_key": key},
        )
    except (stripe.InvalidRequestError, stripe.IdempotencyError, stripe.CardError) as error:
        return RefundState(None, "failed", code=error.code or _error_code(error))
    status = str(refund.status)
    if status not in REFUND_TAKEN:
        reason = getattr(refund, "failure_reason", None)
        return RefundState(str(refund.id), status, code=str(reason or status))
    charge_id = _id(refund.charge)
    refunded = amount
    if charge_id:
        refunded = int(client(settings).v1.charges.retrieve(charge_id).amount_refunded or 0)
    return RefundState(str(refund.id), status, refunded)


def _error_code(error: Any) -> str:
    """A code for a refusal Stripe gave none: its kind of error."""
    if isinstance(error, stripe.IdempotencyError):
        return "idempotency_error"
    if getattr(error, "http_status", None) == 404:
        return "resource_missing"
    return "invalid_request"


def verified_event(settings: StripeSettings, payload: bytes, signature: str) -> dict[str, Any]:
    """The event, once its signature and timestamp verify; raises ``SignatureError``."""
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, settings.webhook_secret, SIGNATURE_TOLERANCE
        )
        event = json.loads(payload.decode("utf-8"))
    except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as error:
        raise SignatureError(str(error)) from None
    except RecursionError:
        # Signed, but nested deeper than the parser goes: no event of Stripe's is.
        raise SignatureError("nested too deeply") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise SignatureError("not an event")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        # Every Stripe event carries the object it is about; a signed body without one is
        # refused as clearly as an unsigned one, not read as an empty event.
        raise SignatureError("an event with no object")
    return event


# What the inbox and the ledger store (``WebhookInbox``, ``ProcessedEvent``, ``Payment``):
# Stripe's ids are a few dozen characters, its amounts far below a BIGINT.
LONGEST_ID = 128
LONGEST_CURRENCY = 16
LARGEST_AMOUNT = 2**63 - 1


def gateway_event(event: dict[str, Any]) -> GatewayEvent | None:
    """The internal event a Stripe event means, or None for a type we do not act on, or
    for one whose ids or amounts no payment could have (too long, not text, too large):
    a signed body is only as well formed as its sender made it, and such an event is
    acknowledged and logged, never stored in a column it does not fit."""
    found = _mapped(event)
    if found is None:
        return None
    if not (
        isinstance(found.event_id, str)
        and 0 < len(found.event_id) <= LONGEST_ID
        and 0 < len(found.reference) <= LONGEST_ID
        and abs(found.amount) <= LARGEST_AMOUNT
    ):
        return None
    if len(found.currency) > LONGEST_CURRENCY:
        # As a missing currency: never the payment's, so a success is held as mismatched.
        return dataclasses.replace(found, currency="?")
    return found


def detached_method(event: dict[str, Any]) -> str | None:
    """The PaymentMethod a ``payment_method.detached`` event says is no longer its
    customer's (a card removed at Stripe, by us or anyone else), or None for any other
    event or one no saved card could have."""
    if event.get("type") != "payment_method.detached":
        return None
    data = event.get("data")
    found = data.get("object") if isinstance(data, dict) else None
    method = found.get("id") if isinstance(found, dict) else None
    if isinstance(method, str) and method.startswith("pm_") and len(method) <= LONGEST_ID:
        return method
    return None


def _mapped(event: dict[str, Any]) -> GatewayEvent | None:
    kind = str(event.get("type"))
    # Every level is checked: a signed body is still only as well formed as its sender
    # made it (``data`` or ``data.object`` a string, a list, a number...).
    data = event.get("data")
    found = data.get("object") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        return None
    if kind in OUTCOMES:
        intent_id = found.get("id")
        if not isinstance(intent_id, str):
            return None
        if OUTCOMES[kind] is Outcome.SUCCEEDED:
            # What Stripe took, compared with the payment before it counts: a missing or
            # odd amount or currency never matches.
            taken = next(
                (
                    value
                    for value in (found.get("amount_received"), found.get("amount"))
                    if isinstance(value, int) and not isinstance(value, bool)
                ),
                -1,
            )
            currency = found.get("currency")
            return GatewayEvent(
                "stripe",
                event["id"],
                intent_id,
                Outcome.SUCCEEDED,
                taken,
                currency.upper() if isinstance(currency, str) and currency else "?",
            )
        return GatewayEvent("stripe", event["id"], intent_id, OUTCOMES[kind])
    intent_id = found.get("payment_intent")
    if not isinstance(intent_id, str):
        return None
    if kind == "charge.refunded":
        refunded = _whole(found.get("amount_refunded"))
        return GatewayEvent("stripe", event["id"], intent_id, Outcome.REFUNDED, refunded)
    if kind in ("charge.dispute.created", "charge.dispute.funds_withdrawn"):
        # An inquiry (warning_*) withdraws nothing; a chargeback its whole amount.
        status = found.get("status")
        inquiry = isinstance(status, str) and status.startswith("warning_")
        held = 0 if inquiry else _whole(found.get("amount"))
        return GatewayEvent(
            "stripe", event["id"], intent_id, Outcome.DISPUTED, held, dispute=_dispute(event)
        )
    if kind in ("charge.dispute.closed", "charge.dispute.updated"):
        # An update (evidence sent, under review) holds what the dispute held: the ledger
        # does not move, the dispute's row does.
        status = found.get("status")
        settled = status in ("won", "prevented") or (
            isinstance(status, str) and status.startswith("warning_")
        )
        held = 0 if settled else _whole(found.get("amount"))
        return GatewayEvent(
            "stripe", event["id"], intent_id, Outcome.DISPUTED, held, dispute=_dispute(event)
        )
    return None


def _dispute(event: dict[str, Any]) -> DisputeFacts | None:
    """What a dispute event says of its dispute (https://docs.stripe.com/api/disputes/object),
    or None when its object is not a dispute or lacks what every dispute has."""
    found = event["data"]["object"]
    dispute_id, status, currency = found.get("id"), found.get("status"), found.get("currency")
    if not (
        found.get("object") == "dispute"
        and isinstance(dispute_id, str)
        and 0 < len(dispute_id) <= LONGEST_ID
        and isinstance(status, str)
        and isinstance(currency, str)
    ):
        return None
    reason = found.get("reason")
    # The dispute's fee: its balance transactions' fees (a won dispute may return it).
    fee, fee_currency = 0, ""
    for line in found.get("balance_transactions") or ():
        if isinstance(line, dict) and isinstance(line.get("currency"), str):
            fee += _signed(line.get("fee"))
            fee_currency = fee_currency or line["currency"].upper()
    details = found.get("evidence_details")
    due_by = details.get("due_by") if isinstance(details, dict) else None
    charge = found.get("charge")
    return DisputeFacts(
        id=dispute_id,
        status=status,
        reason=reason if isinstance(reason, str) else "general",
        amount=_whole(found.get("amount")),
        currency=currency.upper()[:3],
        fee=fee,
        fee_currency=fee_currency[:3],
        charge=charge if isinstance(charge, str) and len(charge) <= LONGEST_ID else None,
        due_by=_whole(due_by) or None,
        opened=_whole(found.get("created")),
        sent=_whole(event.get("created")),
    )


def _signed(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= LARGEST_AMOUNT:
        return value
    return 0


def _whole(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


# Reconciliation reads ---------------------------------------------------------------------
# Balance history and payouts, read with the SDK's auto-pagination and turned at once into
# plain values, so a page of SDK objects is freed as soon as it has been read.

PAGE_SIZE = 100  # Stripe's largest page
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class BalanceLine:
    """One balance transaction: amount, fee and net in the account's settlement currency,
    and the charge behind it (for a refund, the charge it returns money from)."""

    id: str
    type: str
    amount: int
    fee: int
    net: int
    currency: str
    created: datetime
    payment_intent: str | None
    charge: str | None
    # The charge's own amount, in the currency the borrower paid in (the settlement
    # currency differs when Stripe converted it); None for anything but a charge.
    charged: int | None = None
    charged_currency: str | None = None
    # The id of what the transaction came from (a charge, a refund, a dispute ``dp_``),
    # when it is an object: how a dispute's adjustment finds the dispute.
    source: str | None = None


@dataclass(frozen=True)
class PayoutLine:
    """One payout to the lender's bank account."""

    id: str
    amount: int
    currency: str
    status: str
    automatic: bool
    created: datetime
    # The day the money is expected in the bank (Stripe dates it at midnight UTC), and
    # what the bank statement shows as its reference, when Stripe says.
    arrival_date: date | None = None
    statement_descriptor: str | None = None


@dataclass(frozen=True)
class ChargeState:
    """A charge as Stripe has it now: its intent, amount, everything refunded from it,
    and when its balance transaction was created (None while there is none)."""

    id: str
    payment_intent: str | None
    amount: int
    currency: str
    refunded: int
    settled_at: datetime | None


def balance_lines(
    settings: StripeSettings, since: datetime, until: datetime, page_size: int = PAGE_SIZE
) -> Iterator[BalanceLine]:
    """Every balance transaction created in ``[since, until)``, newest first, each with
    its charge or refund expanded (one request a page, not one a transaction)."""
    pages = client(settings).v1.balance_transactions.list(
        params={"created": _window(since, until), "limit": page_size, "expand": ["data.source"]}
    )
    for transaction in pages.auto_paging_iter():
        yield _balance_line(transaction)


def payouts_between(
    settings: StripeSettings, since: datetime, until: datetime, page_size: int = PAGE_SIZE
) -> Iterator[PayoutLine]:
    """Every payout created in ``[since, until)``."""
    pages = client(settings).v1.payouts.list(
        params={"created": _window(since, until), "limit": page_size}
    )
    for payout in pages.auto_paging_iter():
        yield PayoutLine(
            id=str(payout.id),
            amount=int(payout.amount),
            currency=str(payout.currency).upper(),
            status=str(payout.status),
            automatic=bool(payout.automatic),
            created=_moment(payout.created),
            arrival_date=_day(getattr(payout, "arrival_date", None)),
            statement_descriptor=str(getattr(payout, "statement_descriptor", "") or "") or None,
        )


def payout_lines(
    settings: StripeSettings, payout_id: str, page_size: int = PAGE_SIZE
) -> Iterator[BalanceLine]:
    """The balance transactions an automatic payout carried (Stripe answers this only
    for automatic payouts: a manual one is not tied to transactions)."""
    pages = client(settings).v1.balance_transactions.list(
        params={"payout": payout_id, "limit": page_size}
    )
    for transaction in pages.auto_paging_iter():
        yield _balance_line(transaction)


def charge_state(settings: StripeSettings, charge_id: str) -> ChargeState:
    """A charge's intent and what has been refunded from it in all."""
    return _charge_state(client(settings).v1.charges.retrieve(charge_id))


def intent_charge(settings: StripeSettings, intent_id: str) -> ChargeState | None:
    """The successful charge of a PaymentIntent, or None when Stripe holds no money for
    it (no such intent, or one that never succeeded)."""
    try:
        intent = client(settings).v1.payment_intents.retrieve(
            intent_id, params={"expand": ["latest_charge.balance_transaction"]}
        )
    except stripe.InvalidRequestError as error:
        if error.http_status == 404:
            return None
        raise
    charge: Any = intent.latest_charge
    if intent.status != "succeeded" or charge is None or isinstance(charge, str):
        return None
    return _charge_state(charge)


def _window(since: datetime, until: datetime) -> PayoutListParamsCreated:
    # Stripe's times are whole seconds: created >= since and created < until, exactly.
    return {"gte": _ceil_seconds(since), "lt": _ceil_seconds(until)}


def _ceil_seconds(moment: datetime) -> int:
    return -((EPOCH - moment) // SECOND)


def _moment(seconds: int) -> datetime:
    return EPOCH + int(seconds) * SECOND


def _day(seconds: int | None) -> date | None:
    """A Stripe date (a timestamp at midnight UTC) as the day it names."""
    return None if seconds is None else _moment(seconds).date()


def _balance_line(transaction: Any) -> BalanceLine:
    source = transaction.source
    is_charge = getattr(source, "object", None) == "charge"
    intent = getattr(source, "payment_intent", None)
    charge = _id(source) if is_charge else _id(getattr(source, "charge", None))
    return BalanceLine(
        id=str(transaction.id),
        type=str(transaction.type),
        amount=int(transaction.amount),
        fee=int(transaction.fee),
        net=int(transaction.net),
        currency=str(transaction.currency).upper(),
        created=_moment(transaction.created),
        payment_intent=_id(intent),
        charge=charge,
        charged=int(source.amount) if is_charge else None,
        charged_currency=str(source.currency).upper() if is_charge else None,
        source=_id(source),
    )


def _charge_state(charge: Any) -> ChargeState:
    settled: Any = charge.balance_transaction
    expanded = settled is not None and not isinstance(settled, str)
    return ChargeState(
        id=str(charge.id),
        payment_intent=_id(charge.payment_intent),
        amount=int(charge.amount),
        currency=str(charge.currency).upper(),
        refunded=int(charge.amount_refunded or 0),
        settled_at=_moment(settled.created) if expanded else None,
    )


def _id(value: Any) -> str | None:
    """The id of an expandable field, expanded or not."""
    if value is None or isinstance(value, str):
        return value
    return str(value.id)
