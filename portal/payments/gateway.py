"""The payment gateway interface and the factory that picks one by configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from portal.core import settings

if TYPE_CHECKING:
    from negotiation import AttemptOutcome
    from portal.models import Borrower, Payment, SavedCard


@dataclass(frozen=True)
class Checkout:
    """Where to send the borrower to pay, and the gateway's reference for the payment."""

    reference: str
    redirect_url: str


@dataclass(frozen=True)
class CardSetup:
    """A card being saved for automatic payments: the provider's customer for the
    borrower, its reference for the setup, and where the borrower enters the card."""

    customer_ref: str
    reference: str
    redirect_url: str


@dataclass(frozen=True)
class CardDetails:
    """A card the provider saved: its references and what a person is shown of it."""

    customer_ref: str
    method_ref: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class Charged:
    """What an automatic charge to a saved card came to at the provider: succeeded,
    declined, needs the borrower's authentication, or the card cannot be used any more;
    the provider's reference for the charge (None when it made none) and its reason
    code for a failure."""

    outcome: AttemptOutcome
    reference: str | None
    code: str | None = None


@dataclass(frozen=True)
class Refunded:
    """What a refund came to at the provider: done (``succeeded``) or refused, the
    provider's reference for it (None when it made none), everything refunded from the
    payment so far once it is done (the running total, as the provider's own refund
    events report it, so settling it and the event that follows are one refund), and
    the provider's code for a refusal."""

    succeeded: bool
    reference: str | None
    refunded: int = 0
    code: str | None = None


class GatewayUnavailableError(RuntimeError):
    """The provider could not be reached or did not answer in time: nothing is known to
    have happened, and the same call can safely be made again."""


class DisputeRefusedError(RuntimeError):
    """The provider refused the evidence for a dispute (closed already, past its due
    date, or evidence it does not take): nothing was submitted."""


class Gateway(Protocol):
    """What the portal needs from a payment provider."""

    name: str

    def start(self, payment: Payment) -> Checkout:
        """Begin collecting the payment; the same checkout again for the same payment.
        Raises ``GatewayUnavailableError`` when the provider cannot be reached."""
        ...

    def begin_card_setup(self, borrower: Borrower, customer_ref: str | None, key: str) -> CardSetup:
        """Start saving a card for ``borrower`` (under ``customer_ref`` when they have one
        at the provider already). ``key`` makes a retried call return the same setup.
        Raises ``GatewayUnavailableError``."""
        ...

    def card_from_setup(self, customer_ref: str, reference: str) -> CardDetails | None:
        """The card a finished setup saved, or None while it is not finished (or failed).
        Raises ``GatewayUnavailableError``."""
        ...

    def charge_saved(
        self, payment: Payment, card: SavedCard, key: str, resume: bool = False
    ) -> Charged:
        """Charge ``payment`` to the saved card with the borrower away (off session).
        The same ``key`` again never charges twice: it returns the first charge; with
        ``resume`` (the same attempt again, perhaps days later, when the provider may
        have forgotten the key) the provider is first asked for a charge already made
        for the payment. Raises ``GatewayUnavailableError`` when the provider cannot be
        reached (nothing is then known to have happened)."""
        ...

    def refresh_card(self, card: SavedCard) -> CardDetails | None:
        """The saved card as the provider has it now (a renewed card has a new expiry),
        or None when it is gone (detached, deleted). Raises ``GatewayUnavailableError``."""
        ...

    def forget_card(self, card: SavedCard) -> None:
        """Remove the saved card at the provider, so it can never be charged again.
        Raises ``GatewayUnavailableError``."""
        ...

    def submit_dispute_evidence(self, reference: str, evidence: dict[str, str], key: str) -> str:
        """Send ``evidence`` (the provider's evidence fields, as text) for the dispute
        ``reference`` and submit it for the bank's review; returns the dispute's status at
        the provider afterwards. ``key`` makes a retried call submit once. Raises
        ``DisputeRefusedError`` when the provider refuses it, ``GatewayUnavailableError``
        when it cannot be reached."""

    def refund(self, payment: Payment, amount: int, key: str) -> Refunded:
        """Give ``amount`` (minor units) of the succeeded ``payment`` back to the borrower.
        The same ``key`` again never refunds twice: it returns the first refund. A refusal
        (the provider's validation, a payment it cannot refund) is an answer with a code,
        not an error. Raises ``GatewayUnavailableError`` when the provider cannot be
        reached (nothing is then known to have happened: the same call may be made
        again)."""
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
