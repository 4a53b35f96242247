"""The payment gateway interface and the factory that picks one by configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from portal.core import settings

if TYPE_CHECKING:
    from portal.models import Payment


@dataclass(frozen=True)
class Checkout:
    """Where to send the borrower to pay, and the gateway's reference for the payment."""

    reference: str
    redirect_url: str


class GatewayUnavailableError(RuntimeError):
    """The provider could not be reached or did not answer in time: nothing is known to
    have happened, and the same call can safely be made again."""


class Gateway(Protocol):
    """What the portal needs from a payment provider."""

    name: str

    def start(self, payment: Payment) -> Checkout:
        """Begin collecting the payment; the same checkout again for the same payment.
        Raises ``GatewayUnavailableError`` when the provider cannot be reached."""
        ...


def gateway(name: str | None = None) -> Gateway:
    """The gateway called ``name``, or the configured one (``PAYMENT_GATEWAY``)."""
    name = name or settings.current().payment_gateway
    if name == "sandbox":
        from portal.payments.sandbox import SandboxGateway

        return SandboxGateway()
    if name == "stripe":
        from portal.payments.stripe_checkout import StripeGateway

        return StripeGateway()
    raise RuntimeError(f"unknown PAYMENT_GATEWAY {name!r}")
