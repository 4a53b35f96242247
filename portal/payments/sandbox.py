"""The offline sandbox gateway: a simulated checkout page that succeeds or fails on the
borrower's click, and produces the same internal events a real provider's webhook does.

It also keeps "test cards" for automatic plan payments, so the whole autopay flow runs
without Stripe (``make demo``): the borrower picks one on the sandbox's card page, and
each behaves as Stripe's test card with the same last four digits does off session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from negotiation import AttemptOutcome
from portal.models import Borrower, Case, Payment, SavedCard
from portal.payments.gateway import CardDetails, CardSetup, Charged, Checkout, Refunded

# The sandbox's test cards by their last four digits: what an automatic charge to each
# comes to, and the reason code a refusal carries (Stripe's own for its test cards).
TEST_CARDS: dict[str, tuple[AttemptOutcome, str | None]] = {
    "4242": (AttemptOutcome.SUCCEEDED, None),
    "0341": (AttemptOutcome.DECLINED, "card_declined"),
    "9995": (AttemptOutcome.DECLINED, "insufficient_funds"),
    "3184": (AttemptOutcome.NEEDS_AUTHENTICATION, "authentication_required"),
    "0069": (AttemptOutcome.CARD_UNUSABLE, "expired_card"),
}
# A test card is good for years; its expiry is shown like a real card's.
TEST_CARD_EXPIRY = (12, 2034)


class SandboxGateway:
    """Checkout on a page of our own; confirmation through ``events.handle``."""

    name = "sandbox"

    def start(self, payment: Payment) -> Checkout:
        """The same reference for the same payment, so a retry reuses its checkout."""
        reference = f"sbx_{payment.id}_{_signature(str(payment.id))}"
        return Checkout(reference, url_for("sandbox.checkout", reference=reference))

    def begin_card_setup(self, borrower: Borrower, customer_ref: str | None, key: str) -> CardSetup:
        """A setup on the sandbox's card page, for this borrower only."""
        customer = customer_ref or f"sbx_cus_{borrower.id}"
        nonce = secrets.token_hex(6)
        reference = f"sbxs_{borrower.id}_{nonce}_{_signature(f'{borrower.id}:{nonce}')}"
        return CardSetup(customer, reference, url_for("sandbox.card", reference=reference))

    def card_from_setup(self, customer_ref: str, reference: str) -> CardDetails | None:
        """The test card chosen on the card page: ``reference`` is the setup's with the
        card's last four digits, signed again (``chosen_reference``)."""
        parts = reference.split("_")
        if len(parts) != 5 or parts[0] != "sbxc":
            return None
        _, borrower_id, nonce, last4, signature = parts
        if not hmac.compare_digest(signature, _signature(f"{borrower_id}:{nonce}:{last4}")):
            return None
        if customer_ref != f"sbx_cus_{borrower_id}" or last4 not in TEST_CARDS:
            return None
        month, year = TEST_CARD_EXPIRY
        return CardDetails(
            customer_ref, f"sbx_pm_{borrower_id}_{nonce}_{last4}", "visa", last4, month, year
        )

    def charge_saved(
        self, payment: Payment, card: SavedCard, key: str, resume: bool = False
    ) -> Charged:
        """What the test card does off session; the reference is the payment's, as its
        checkout's would be (so a resumed attempt finds the same charge)."""
        outcome, code = TEST_CARDS.get(card.last4, (AttemptOutcome.DECLINED, "card_declined"))
        reference = f"sbx_{payment.id}_{_signature(str(payment.id))}"
        return Charged(outcome, reference if outcome is AttemptOutcome.SUCCEEDED else None, code)

    def refresh_card(self, card: SavedCard) -> CardDetails | None:
        """A test card never changes."""
        return CardDetails(
            card.customer_ref,
            card.method_ref,
            card.brand,
            card.last4,
            card.exp_month,
            card.exp_year,
        )

    def forget_card(self, card: SavedCard) -> None:
        """Nothing is kept anywhere else."""

    def submit_dispute_evidence(self, reference: str, evidence: dict[str, str], key: str) -> str:
        """The sandbox's bank takes any evidence for review: the evidence itself is kept
        on the dispute's row by the caller, as a provider would keep it; a decision comes
        from ``haohuan sandbox dispute``."""
        return "under_review"

    def refund(self, payment: Payment, amount: int, key: str) -> Refunded:
        """Done at once. The reference comes from the key alone, so the same key is the
        same refund; the running total is what the payment had refunded, plus this (the
        sandbox sends no refund events of its own that could have counted it already)."""
        reference = f"sbxr_{payment.id}_{_signature(f'refund:{payment.id}:{key}')}"
        return Refunded(True, reference, min(payment.refunded + amount, payment.amount))


def chosen_reference(setup_reference: str, last4: str) -> str | None:
    """The reference of a setup finished with the test card ``last4``, or None when the
    setup's reference is not one the sandbox issued."""
    parts = setup_reference.split("_")
    if len(parts) != 4 or parts[0] != "sbxs" or last4 not in TEST_CARDS:
        return None
    _, borrower_id, nonce, signature = parts
    if not hmac.compare_digest(signature, _signature(f"{borrower_id}:{nonce}")):
        return None
    return f"sbxc_{borrower_id}_{nonce}_{last4}_{_signature(f'{borrower_id}:{nonce}:{last4}')}"


def chosen_for(setup_reference: str, chosen: str) -> bool:
    """True when ``chosen`` is a test card chosen for exactly this setup (its signed
    reference, as ``chosen_reference`` makes it), not for another."""
    parts = chosen.split("_")
    expected = chosen_reference(setup_reference, parts[3]) if len(parts) == 5 else None
    return expected is not None and hmac.compare_digest(expected, chosen)


def setup_borrower(setup_reference: str) -> int | None:
    """The borrower a sandbox setup reference was issued for (None when it is not a
    reference the sandbox issued)."""
    parts = setup_reference.split("_")
    if len(parts) != 4 or parts[0] != "sbxs":
        return None
    if not hmac.compare_digest(parts[3], _signature(f"{parts[1]}:{parts[2]}")):
        return None
    return int(parts[1]) if parts[1].isdigit() else None


def _signature(message: str) -> str:
    key = current_app.config["SECRET_KEY"].encode("utf-8")
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()[:16]


def case_checkout(db: Session, case: Case, reference: str) -> Payment | None:
    """The sandbox payment with this checkout reference, only if it is the case's own
    (another borrower's reference gets None)."""
    payment = db.scalars(
        select(Payment).where(Payment.gateway_reference == reference, Payment.gateway == "sandbox")
    ).first()
    return payment if payment is not None and payment.case_id == case.id else None
