"""The offline sandbox gateway: a simulated checkout page that succeeds or fails on the
borrower's click, and produces the same internal events a real provider's webhook does."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, Payment
from portal.payments.gateway import Checkout


class SandboxGateway:
    """Checkout on a page of our own; confirmation through ``events.handle``."""

    name = "sandbox"

    def start(self, payment: Payment) -> Checkout:
        """The same reference for the same payment, so a retry reuses its checkout."""
        reference = f"sbx_{payment.id}_{_signature(payment.id)}"
        return Checkout(reference, url_for("sandbox.checkout", reference=reference))


def _signature(payment_id: int) -> str:
    key = current_app.config["SECRET_KEY"].encode("utf-8")
    return hmac.new(key, str(payment_id).encode(), hashlib.sha256).hexdigest()[:16]


def case_checkout(db: Session, case: Case, reference: str) -> Payment | None:
    """The sandbox payment with this checkout reference, only if it is the case's own
    (another borrower's reference gets None)."""
    payment = db.scalars(
        select(Payment).where(Payment.gateway_reference == reference, Payment.gateway == "sandbox")
    ).first()
    return payment if payment is not None and payment.case_id == case.id else None
