"""The payouts page's demo: five Stripe payouts of last November, as a reconciliation run
would have stored them, and a bank statement to import against them,
``docs/samples/camt053-demo-statement.xml`` (ISO 20022 camt.053). Importing it ticks off
three payouts by the rules (one by its Stripe id, one by its statement descriptor, one by
amount and date alone), leaves two deposits of the same amount for a person to choose
between two payouts, and one deposit nobody's. The dates are fixed, as the file's are, so
the two always agree.

The sandbox demo has no Stripe to reconcile with, so the payouts are written here
directly; their transactions name no payment of ours.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Payout, PayoutTransaction

# The statement to import, from the repository's root.
STATEMENT = Path("docs") / "samples" / "camt053-demo-statement.xml"
# Stripe id, amount (NT$, minor units), arrival day, statement descriptor, charges' nets.
PAYOUTS = (
    ("po_demo_1101", 1_284_000, date(2026, 11, 2), None, (534_000, 750_000)),
    ("po_demo_1104", 963_500, date(2026, 11, 4), "HAOHUAN LOANS", (463_500, 500_000)),
    ("po_demo_1109", 412_000, date(2026, 11, 9), None, (412_000,)),
    ("po_demo_1116a", 600_000, date(2026, 11, 16), None, (600_000,)),
    ("po_demo_1116b", 600_000, date(2026, 11, 16), None, (250_000, 350_000)),
)
# Stripe's fee on each charge, per mille (3.4%, as localstripe charges).
FEE_PER_MILLE = 34


def seed_payouts(db: Session, now: datetime) -> int:
    """Write the demo's payouts once (a second run adds nothing); how many were added.
    Does not commit: the demo's run does."""
    if db.scalar(select(Payout.id).where(Payout.stripe_id == PAYOUTS[0][0])) is not None:
        return 0
    for stripe_id, amount, arrival, descriptor, nets in PAYOUTS:
        created = datetime(arrival.year, arrival.month, arrival.day, 1, tzinfo=UTC)
        created -= timedelta(days=2)
        payout = Payout(
            stripe_id=stripe_id,
            amount=amount,
            currency="TWD",
            arrival_date=arrival,
            status="paid",
            automatic=True,
            statement_descriptor=descriptor,
            transaction_count=len(nets),
            transaction_sum=sum(nets),
            created_at=created,
            first_seen_at=now,
            last_seen_at=now,
        )
        for number, net in enumerate(nets, 1):
            gross = net * 1000 // (1000 - FEE_PER_MILLE)
            payout.transactions.append(
                PayoutTransaction(
                    balance_transaction=f"txn_{stripe_id.removeprefix('po_')}_{number}",
                    type="charge",
                    amount=gross,
                    fee=gross - net,
                    net=net,
                    currency="TWD",
                    created_at=created - timedelta(days=1, hours=number),
                    payment_intent=None,
                )
            )
        db.add(payout)
    db.flush()
    return len(PAYOUTS)
