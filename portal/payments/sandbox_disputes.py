"""Disputes in the sandbox: what a cardholder's bank and Stripe would do, for the demo
and for tests without Stripe. A dispute is opened on a sandbox payment and decided won
or lost by events the sandbox makes, shaped as Stripe's, through
``portal.payments.events.handle``: the same path, ledger and dispute rows as Stripe's
webhooks take."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Dispute, DisputeStatus, Payment
from portal.payments.disputes import EPOCH, DisputeFacts
from portal.payments.events import GatewayEvent, Outcome, handle

# Stripe's dispute fee in the sandbox, in minor units of the payment's currency.
SANDBOX_DISPUTE_FEE = 1500
ANSWER_WITHIN = timedelta(days=7)


class SandboxDisputeError(ValueError):
    """The sandbox cannot do that: no such sandbox payment or dispute, or one decided."""


def _seconds(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds())


def _event(payment: Payment, facts: DisputeFacts, held: int, name: str) -> GatewayEvent:
    return GatewayEvent(
        "sandbox",
        f"evt_sbx_{facts.id}_{name}",
        payment.gateway_reference or "",
        Outcome.DISPUTED,
        held,
        dispute=facts,
    )


def open_dispute(
    db: Session,
    payment_id: int,
    now: datetime,
    reason: str = "fraudulent",
    due_by: datetime | None = None,
) -> Dispute:
    """The bank disputes a succeeded sandbox payment in full: its money is held, the
    dispute fee charged, evidence due in a week (or by ``due_by``). Commits."""
    payment = db.get(Payment, payment_id)
    if payment is None or payment.gateway != "sandbox" or not payment.gateway_reference:
        raise SandboxDisputeError(f"no sandbox payment {payment_id}")
    facts = DisputeFacts(
        id=f"sbx_dp_{payment.id}_{secrets.token_hex(4)}",
        status=DisputeStatus.NEEDS_RESPONSE,
        reason=reason,
        amount=payment.amount,
        currency=payment.currency,
        fee=SANDBOX_DISPUTE_FEE,
        fee_currency=payment.currency,
        due_by=_seconds(due_by or now + ANSWER_WITHIN),
        opened=_seconds(now),
        sent=_seconds(now),
    )
    handle(db, _event(payment, facts, payment.amount, "created"), now)
    return db.scalars(select(Dispute).where(Dispute.reference == facts.id)).one()


def decide_dispute(db: Session, dispute_id: int, won: bool, now: datetime) -> Dispute:
    """The bank decides a sandbox dispute: won (the money comes back) or lost (it stays
    taken back). Commits."""
    dispute = db.get(Dispute, dispute_id)
    if dispute is None or dispute.gateway != "sandbox" or dispute.payment_id is None:
        raise SandboxDisputeError(f"no sandbox dispute {dispute_id}")
    if dispute.closed:
        raise SandboxDisputeError(f"dispute {dispute_id} is {dispute.status} already")
    payment = db.get(Payment, dispute.payment_id)
    assert payment is not None  # a dispute's payment stays  # noqa: S101
    status = DisputeStatus.WON if won else DisputeStatus.LOST
    facts = DisputeFacts(
        id=dispute.reference,
        status=status,
        reason=dispute.reason,
        amount=dispute.amount,
        currency=dispute.currency,
        fee=dispute.fee,
        fee_currency=dispute.fee_currency,
        due_by=_seconds(dispute.evidence_due_by) if dispute.evidence_due_by else None,
        opened=_seconds(dispute.opened_at),
        sent=_seconds(now),
    )
    handle(db, _event(payment, facts, 0 if won else dispute.amount, status), now)
    db.expire_all()
    decided = db.get(Dispute, dispute_id)
    assert decided is not None  # noqa: S101
    return decided
