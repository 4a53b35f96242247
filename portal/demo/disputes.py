"""The demo's chargeback: the payment the finance demo disputed
(``portal.demo.finance.seed_payment_history``) given its dispute's details, as Stripe's
events would carry them, with the evidence due a week ahead, so finance can answer it on
a fresh ``make demo`` (and ``haohuan sandbox dispute`` can decide it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Dispute, Payment, PaymentStatus
from portal.payments.sandbox_disputes import ANSWER_WITHIN, open_dispute


def seed_open_dispute(db: Session, now: datetime) -> Dispute | None:
    """Open the demo's dispute once (a re-run adds nothing); None when the demo holds
    no disputed sandbox payment to open it on. Commits."""
    if db.scalar(select(func.count()).select_from(Dispute)):
        return None
    payment_id = db.scalar(
        select(Payment.id)
        .where(
            Payment.gateway == "sandbox",
            Payment.status == PaymentStatus.SUCCEEDED,
            Payment.disputed > 0,
        )
        .order_by(Payment.id)
        .limit(1)
    )
    if payment_id is None:
        return None
    return open_dispute(
        db, payment_id, now, reason="product_not_received", due_by=now + ANSWER_WITHIN
    )
