"""A month of payments and a Stripe that disagrees with them in each way reconciliation
flags, for the exception and month-close tests: a stray charge (no payment of ours), a
refund Stripe made that we never recorded, a payment Stripe took that we never saw
succeed, and a payment of ours Stripe has nothing for.

Payments are made real through ``portal.payments.events.handle``, so the ledger is the
one the gateway's events make, and ``ledger.check`` holds it to account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select

from portal.core import db
from portal.finance import reconcile as reconciliation
from portal.models import Case, Payment, ReconciliationException
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.stripe_gateway import BalanceLine, ChargeState, PayoutLine

from .factories import build_case

TAIPEI = ZoneInfo("Asia/Taipei")
# November 2026 in Taipei, the month the books are about.
MONTH = "2026-11"
SINCE = datetime(2026, 11, 1, tzinfo=TAIPEI).astimezone(UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=TAIPEI).astimezone(UTC)
PAID_AT = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)
AFTER = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # the month over


@dataclass
class FakeStripe:
    """Stripe's side of the month: balance lines and charges, as a reader returns them."""

    lines: list[BalanceLine] = field(default_factory=list)
    charges: dict[str, ChargeState] = field(default_factory=dict)

    def balance_lines(self, since: datetime, until: datetime) -> list[BalanceLine]:
        return [line for line in self.lines if since <= line.created < until]

    def payouts(self, since: datetime, until: datetime) -> list[PayoutLine]:
        return []

    def payout_lines(self, payout_id: str) -> list[BalanceLine]:
        return []

    def charge(self, charge_id: str) -> ChargeState:
        return self.charges[charge_id]

    def intent_charge(self, intent_id: str) -> ChargeState | None:
        return next((c for c in self.charges.values() if c.payment_intent == intent_id), None)

    def charged(self, intent: str | None, amount: int, number: int) -> None:
        """A charge of ``amount`` TWD (for ``intent``, or none of ours) and its line."""
        fee = amount * 34 // 1000
        charge = f"ch_{number}"
        self.lines.append(
            BalanceLine(
                f"txn_{number}",
                "charge",
                amount,
                fee,
                amount - fee,
                "TWD",
                PAID_AT,
                intent,
                charge,
                amount,
                "TWD",
            )
        )
        self.charges[charge] = ChargeState(charge, intent, amount, "TWD", 0, PAID_AT)

    def refunded(self, charge: str, amount: int, number: int) -> None:
        """A refund of ``amount`` from ``charge`` made at Stripe."""
        state = self.charges[charge]
        self.charges[charge] = ChargeState(
            charge, state.payment_intent, state.amount, "TWD", state.refunded + amount, PAID_AT
        )
        self.lines.append(
            BalanceLine(
                f"txn_{number}", "refund", -amount, 0, -amount, "TWD", PAID_AT, None, charge
            )
        )


def pay(app: Flask, case_id: int, reference: str, amount: int, *, succeed: bool = True) -> int:
    """Our Stripe payment of ``amount`` TWD, confirmed through the gateway's event."""
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, case_id)
        payment = Payment(
            case_id=case.id,
            purpose="partial",
            amount=amount,
            currency="TWD",
            status="pending",
            gateway="stripe",
            gateway_reference=reference,
            created_at=PAID_AT,
        )
        session.add(payment)
        session.commit()
        if succeed:
            event = GatewayEvent("stripe", f"ok_{reference}", reference, Outcome.SUCCEEDED)
            handle(session, event, PAID_AT)
        return payment.id


@dataclass
class Books:
    """The month's payments by what happens to them, and Stripe's side."""

    stripe: FakeStripe
    case_id: int
    matched: int
    refunded: int
    pending: int
    ghost: int


def month_of_books(app: Flask) -> Books:
    """The month: one payment that matches, and the four discrepancies."""
    case_id = build_case(app).case_id
    stripe = FakeStripe()
    books = Books(
        stripe=stripe,
        case_id=case_id,
        matched=pay(app, case_id, "pi_matched", 100_000),
        refunded=pay(app, case_id, "pi_refunded", 50_000),
        ghost=pay(app, case_id, "pi_ghost", 40_000),
        # Last: a case has one open payment at a time.
        pending=pay(app, case_id, "pi_pending", 30_000, succeed=False),
    )
    stripe.charged("pi_matched", 100_000, 1)
    stripe.charged("pi_refunded", 50_000, 2)
    stripe.refunded("ch_2", 20_000, 3)  # never recorded here
    stripe.charged("pi_pending", 30_000, 4)  # taken, and we never saw it succeed
    stripe.charged(None, 12_000, 5)  # a stray charge
    return books


def pay_pending_late(app: Flask, books: Books) -> None:
    """The payment Stripe took but we never saw succeed: its success event arrives."""
    with app.test_request_context("/"):
        event = GatewayEvent("stripe", "ok_pi_pending_late", "pi_pending", Outcome.SUCCEEDED)
        handle(db.session(), event, PAID_AT)


def run_month(app: Flask, books: Books, who: str = "test", now: datetime = AFTER) -> int:
    """Reconcile the month against the fake Stripe; the run's id."""
    with app.app_context():
        run = reconciliation.reconcile_with(db.session(), books.stripe, SINCE, UNTIL, who, now)
        return run.id


def exceptions_by_kind(app: Flask) -> dict[str, tuple[int, str, int, int | None]]:
    """Each exception by its line's note: (id, status, run, payment)."""
    with app.app_context():
        found = db.session().scalars(select(ReconciliationException)).all()
        return {str(e.item.note_code): (e.id, str(e.status), e.run_id, e.payment_id) for e in found}
