"""The sandbox's books, read as Stripe's: what reconciliation compares with when the
payment gateway is the sandbox (``make demo``, no ``STRIPE_SECRET_KEY``).

Deterministic from the database: each succeeded sandbox payment is a charge (Stripe's
fee of 3.4%, rounded down, as localstripe charges in the tests), each refund recorded a
refund line, and each finance day's net is paid out automatically at the next day's
start, with the day's lines as the payout's transactions, arriving at the bank on that
day or, on a weekend, the Monday after. The discrepancies the demo
plants (``SandboxPlant``) are what the sandbox reports differently: a stray charge, a
refund we never recorded, a payment it never took, a payment taken for another amount.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.core import settings as app_settings
from portal.core.clock import as_utc
from portal.models import CaseEvent, Payment, PaymentStatus, PlantKind, SandboxPlant
from portal.payments.stripe_gateway import BalanceLine, ChargeState, PayoutLine

GATEWAY = "sandbox"
FEE_PER_MILLE = 34  # Stripe's 3.4%, rounded down (tests/portal/localstripe_server.py's)
# The ids the sandbox gives its objects, from ours: stable across runs.
CHARGE_PREFIX = "ch_sbx_"
STRAY_PREFIX = "ch_sbx_stray_"


def fee(amount: int) -> int:
    """Stripe's fee on a charge of ``amount`` (minor units), rounded down."""
    return amount * FEE_PER_MILLE // 1000


@dataclass(frozen=True)
class _Charge:
    state: ChargeState
    line_id: str
    created: datetime


class SandboxStripe:
    """A ``StripeReader`` over the sandbox's books (``portal.finance.reconcile``)."""

    gateway = GATEWAY

    def __init__(self, db: Session) -> None:
        self.db = db
        self.zone = app_settings.current().finance_zone
        self._plants = list(db.scalars(select(SandboxPlant).order_by(SandboxPlant.id)))

    def _planted(self, kind: PlantKind) -> dict[int, SandboxPlant]:
        return {p.payment_id: p for p in self._plants if p.kind == kind and p.payment_id}

    # The charges -----------------------------------------------------------------------

    def _payment_charge(self, payment: Payment) -> _Charge | None:
        """The sandbox's charge of our payment, as it has it (None: it never took it)."""
        if payment.id in self._planted(PlantKind.NOT_AT_GATEWAY):
            return None
        if payment.status != PaymentStatus.SUCCEEDED or payment.confirmed_at is None:
            return None
        other = self._planted(PlantKind.OTHER_AMOUNT).get(payment.id)
        refund = self._planted(PlantKind.UNRECORDED_REFUND).get(payment.id)
        state = ChargeState(
            id=f"{CHARGE_PREFIX}{payment.id}",
            payment_intent=payment.gateway_reference,
            amount=other.amount if other else payment.amount,
            currency=payment.currency,
            refunded=refund.amount if refund else payment.refunded,
            settled_at=payment.confirmed_at,
        )
        return _Charge(state, f"txn_sbx_{payment.id}", payment.confirmed_at)

    def _stray_charge(self, plant: SandboxPlant) -> _Charge:
        state = ChargeState(
            id=f"{STRAY_PREFIX}{plant.id}",
            payment_intent=f"sbx_stray_{plant.id}",
            amount=plant.amount,
            currency=plant.currency,
            refunded=0,
            settled_at=plant.at,
        )
        return _Charge(state, f"txn_sbx_stray_{plant.id}", plant.at)

    def _payments(self, since: datetime, until: datetime) -> list[Payment]:
        return list(
            self.db.scalars(
                select(Payment)
                .where(
                    Payment.gateway == GATEWAY,
                    Payment.status == PaymentStatus.SUCCEEDED,
                    Payment.confirmed_at >= since,
                    Payment.confirmed_at < until,
                )
                .order_by(Payment.id)
            )
        )

    # The balance history ----------------------------------------------------------------

    def balance_lines(self, since: datetime, until: datetime) -> Iterator[BalanceLine]:
        """The period's charges and refunds, as Stripe's balance history lists them."""
        charges = [c for p in self._payments(since, until) if (c := self._payment_charge(p))]
        charges += [
            self._stray_charge(p)
            for p in self._plants
            if p.kind == PlantKind.STRAY_CHARGE and since <= as_utc(p.at) < until
        ]
        for charge in charges:
            yield _charge_line(charge)
        yield from self._refund_lines(since, until)

    def _refund_lines(self, since: datetime, until: datetime) -> Iterator[BalanceLine]:
        """One line per payment refunded in the period: its refunded total, dated by the
        last refund we recorded (or the planted one's time)."""
        planted = self._planted(PlantKind.UNRECORDED_REFUND)
        refunded_at: dict[int, datetime] = dict(
            self.db.execute(
                select(CaseEvent.data["payment_id"].as_integer(), CaseEvent.at).where(
                    CaseEvent.kind == "payment_refunded"
                )
            ).all()
        )
        candidates = self.db.scalars(
            select(Payment)
            .where(Payment.gateway == GATEWAY, Payment.status == PaymentStatus.SUCCEEDED)
            .where((Payment.refunded > 0) | Payment.id.in_(list(planted)))
            .order_by(Payment.id)
        )
        for payment in candidates:
            charge = self._payment_charge(payment)
            if charge is None or charge.state.refunded <= 0:
                continue
            plant = planted.get(payment.id)
            when = plant.at if plant else refunded_at.get(payment.id, payment.confirmed_at)
            if when is None or not since <= as_utc(when) < until:
                continue
            amount = -charge.state.refunded
            yield BalanceLine(
                id=f"txn_sbx_re_{payment.id}",
                type="refund",
                amount=amount,
                fee=0,
                net=amount,
                currency=payment.currency,
                created=as_utc(when),
                payment_intent=None,
                charge=charge.state.id,
            )

    def charge(self, charge_id: str) -> ChargeState:
        """A charge as the sandbox has it now."""
        if charge_id.startswith(STRAY_PREFIX):
            plant = next(p for p in self._plants if f"{STRAY_PREFIX}{p.id}" == charge_id)
            return self._stray_charge(plant).state
        payment = self.db.get(Payment, int(charge_id.removeprefix(CHARGE_PREFIX)))
        found = self._payment_charge(payment) if payment is not None else None
        if found is None:
            raise LookupError(charge_id)
        return found.state

    def intent_charge(self, intent_id: str) -> ChargeState | None:
        """The sandbox's charge of the payment with this reference, if it took one."""
        payment = self.db.scalars(
            select(Payment).where(
                Payment.gateway == GATEWAY, Payment.gateway_reference == intent_id
            )
        ).first()
        found = self._payment_charge(payment) if payment is not None else None
        return found.state if found else None

    # Payouts ------------------------------------------------------------------------------

    def payouts(self, since: datetime, until: datetime) -> Iterator[PayoutLine]:
        """Each finance day's net, per currency, paid out automatically at the start of
        the next day: the payouts made in the period."""
        first = as_utc(since).astimezone(self.zone).date() - timedelta(days=1)
        last = as_utc(until).astimezone(self.zone).date()
        day = first
        while day <= last:
            paid_at = self._day_start(day + timedelta(days=1))
            if since <= paid_at < until:
                nets: dict[str, int] = {}
                for line in self._day_lines(day):
                    nets[line.currency] = nets.get(line.currency, 0) + line.net
                for currency, net in sorted(nets.items()):
                    if net > 0:
                        yield PayoutLine(
                            id=f"po_sbx_{currency}_{day:%Y%m%d}",
                            amount=net,
                            currency=currency,
                            status="paid",
                            automatic=True,
                            created=paid_at,
                            arrival_date=arrival(day),
                        )
            day += timedelta(days=1)

    def payout_lines(self, payout_id: str) -> Iterator[BalanceLine]:
        """The transactions an automatic payout carried: its day's, in its currency."""
        _po, _sbx, currency, stamp = payout_id.split("_")
        day = datetime.strptime(stamp, "%Y%m%d").date()  # noqa: DTZ007 (a calendar day)
        return (line for line in self._day_lines(day) if line.currency == currency)

    def _day_start(self, day: date) -> datetime:
        return as_utc(datetime.combine(day, time.min, tzinfo=self.zone))

    def _day_lines(self, day: date) -> list[BalanceLine]:
        return list(self.balance_lines(self._day_start(day), self._day_start(day + timedelta(1))))


def arrival(day: date) -> date:
    """When the payout of ``day``'s net reaches the bank: the next day, or the Monday
    after when that is a weekend (banks book no transfers then)."""
    paid = day + timedelta(days=1)
    while paid.weekday() >= 5:
        paid += timedelta(days=1)
    return paid


def _charge_line(charge: _Charge) -> BalanceLine:
    amount = charge.state.amount
    taken = fee(amount)
    return BalanceLine(
        id=charge.line_id,
        type="charge",
        amount=amount,
        fee=taken,
        net=amount - taken,
        currency=charge.state.currency,
        created=as_utc(charge.created),
        payment_intent=charge.state.payment_intent,
        charge=charge.state.id,
        charged=amount,
        charged_currency=charge.state.currency,
    )
