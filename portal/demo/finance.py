"""The finance console's demo: a finance account with a fresh password each run, and a
month of online repayments (with a refund and a dispute) so every page has figures.

Payments go through ``portal.payments.events.handle``, the path real gateway events
take, so their allocations are the ones the ledger would make.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from portal.models import Case, CaseStatus, Payment, PaymentStatus
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.staff.accounts import add_member, change_password, find_member

DEMO_FINANCE_EMAIL = "finance@haohuan.example"
# Part payments in whole units of each currency (Taiwan dollars have no cents in use).
PART_PAYMENTS = {"TWD": (100_000, 800_000), "CNY": (20_000, 150_000), "HKD": (20_000, 150_000)}


def demo_finance_account(db: Session, now: datetime) -> tuple[str, str]:
    """Create (or reactivate) the demo finance account with a new random password, and
    return its email and that password: printed each run, never a known secret."""
    password = secrets.token_urlsafe(12)
    member = find_member(db, DEMO_FINANCE_EMAIL)
    if member is None:
        add_member(db, DEMO_FINANCE_EMAIL, "Demo Finance", ["finance"], password, now)
    else:
        member.active = True
        change_password(db, member, password)
    return DEMO_FINANCE_EMAIL, password


def seed_payment_history(
    db: Session, cases: Sequence[Case], now: datetime, rng: random.Random, days: int = 30
) -> None:
    """Part payments on most of the last ``days`` days by borrowers without a plan or a
    hold; one is later refunded in part and one disputed. Commits (per event)."""
    payers = [c for c in cases if c.hold is None and c.status == CaseStatus.OPEN]
    paid: list[Payment] = []
    for back in range(days, 0, -1):
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            case = rng.choice(payers)
            low, high = PART_PAYMENTS[case.loan.currency]
            moment = now - timedelta(days=back, minutes=rng.randrange(0, 600))
            payment = Payment(
                case_id=case.id,
                purpose="partial",
                amount=rng.randrange(low, high, 10_000),
                currency=case.loan.currency,
                status=PaymentStatus.PENDING,
                gateway="sandbox",
                gateway_reference=f"demo_{back}_{len(paid)}",
                created_at=moment,
            )
            db.add(payment)
            db.commit()
            succeeded = GatewayEvent(
                "sandbox",
                f"evt_demo_{payment.id}",
                payment.gateway_reference or "",
                Outcome.SUCCEEDED,
            )
            handle(db, succeeded, moment + timedelta(minutes=2))
            paid.append(payment)
    if len(paid) >= 2:
        refunded, disputed = paid[len(paid) // 2], paid[-2]
        refund = GatewayEvent(
            "sandbox",
            "evt_demo_refund",
            refunded.gateway_reference or "",
            Outcome.REFUNDED,
            refunded.amount // 2,
        )
        handle(db, refund, now - timedelta(days=1))
        dispute = GatewayEvent(
            "sandbox",
            "evt_demo_dispute",
            disputed.gateway_reference or "",
            Outcome.DISPUTED,
            disputed.amount,
        )
        handle(db, dispute, now - timedelta(hours=3))
