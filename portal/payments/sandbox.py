"""The offline sandbox gateway: a simulated checkout page that succeeds or fails on the
borrower's click, and produces the same internal events a real provider's webhook does."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app, url_for

from portal.models import Payment
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
