"""The payment gateway interface and the factory that picks one by configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flask import current_app


@dataclass(frozen=True)
class Checkout:
    """Where to send the borrower to pay, and the gateway's reference for the payment."""

    reference: str
    redirect_url: str


class Gateway(Protocol):
    """What the portal needs from a payment provider."""

    name: str

    def start(self, payment_id: int, amount: int, currency: str, return_url: str) -> Checkout:
        """Begin collecting ``amount``; idempotent for the same ``payment_id``."""
        ...


def gateway() -> Gateway:
    """The configured gateway (``PAYMENT_GATEWAY``; the offline sandbox by default)."""
    name = current_app.config.get("PAYMENT_GATEWAY", "sandbox")
    if name == "sandbox":
        from portal.payments.sandbox import SandboxGateway

        return SandboxGateway()
    raise RuntimeError(f"unknown PAYMENT_GATEWAY {name!r}")
