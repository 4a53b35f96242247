"""Disputes as the gateway reports them: each dispute event's details, kept current in
``disputes`` in the same transaction as the event's effect on the ledger
(``portal.payments.events.handle``), so exactly once, like the event itself.

Stripe does not promise order, so a dispute's row only ever moves forward: a status
later in a dispute's life (needs a response, under review, decided) replaces an earlier
one, never the reverse, and between two events of the same stage the newer one wins.
An event arriving late therefore changes nothing, and neither does the money it would
hold: the ledger holds what the dispute's row says (``held``), not what a stale event
said.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.core.db import lock_row
from portal.models import Dispute, DisputeStatus, Payment

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The statuses in which a dispute holds its amount of the payment: a chargeback, whose
# money Stripe has withdrawn (https://docs.stripe.com/disputes/how-disputes-work).
HOLDING_DISPUTE_STATUSES = frozenset(
    {DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW, DisputeStatus.LOST}
)

# How far along its life each status is: a dispute's row moves to a later stage only.
# An inquiry (warning_*) may become a chargeback (needs_response); a decision is final.
STAGE = {
    DisputeStatus.WARNING_NEEDS_RESPONSE: 0,
    DisputeStatus.WARNING_UNDER_REVIEW: 1,
    DisputeStatus.NEEDS_RESPONSE: 2,
    DisputeStatus.UNDER_REVIEW: 3,
    DisputeStatus.WARNING_CLOSED: 4,
    DisputeStatus.WON: 4,
    DisputeStatus.LOST: 4,
    DisputeStatus.PREVENTED: 4,
}

LONGEST_REASON = 40


@dataclass(frozen=True)
class DisputeFacts:
    """What one dispute event says of its dispute: the gateway's id, status and reason
    code, the amount disputed, the gateway's dispute fee (in ``fee_currency``), the date
    evidence is due, when the dispute was opened and when the event was sent (times as
    whole seconds since 1970, as Stripe sends them)."""

    id: str
    status: str
    reason: str
    amount: int
    currency: str
    fee: int = 0
    fee_currency: str = ""
    charge: str | None = None
    due_by: int | None = None
    opened: int = 0
    sent: int = 0

    def as_json(self) -> dict[str, Any]:
        """The facts as the inbox stores them."""
        return asdict(self)

    @classmethod
    def from_json(cls, stored: dict[str, Any] | None) -> DisputeFacts | None:
        """The facts the inbox stored, or None (an event that carried none)."""
        if not stored:
            return None
        return cls(**{key: stored[key] for key in cls.__dataclass_fields__ if key in stored})


def moment(seconds: int | None) -> datetime | None:
    """Stripe's whole seconds since 1970 as a UTC time."""
    return None if seconds is None else EPOCH + timedelta(seconds=int(seconds))


def track(db: Session, gateway: str, reference: str, facts: DisputeFacts, now: datetime) -> int:
    """Keep the dispute's row current with ``facts`` (creating it with the first event
    seen), unless the row is further along already; returns what the dispute holds of
    the payment now: its amount, or nothing once won. Flushes, does not commit (it is
    part of the event's transaction). ``reference`` is the payment's at the gateway."""
    try:
        status = DisputeStatus(facts.status)
    except ValueError:
        status = None
    found = select(Payment.id).where(Payment.gateway_reference == reference)
    payment_id = db.scalars(found).first()
    if payment_id is not None:
        # Two events of one dispute settled at once: the second waits here, then reads
        # the row the first wrote (there is no second INSERT to fail).
        lock_row(db, Payment, payment_id)
    row = db.scalars(
        select(Dispute).where(Dispute.gateway == gateway, Dispute.reference == facts.id)
    ).first()
    sent = moment(facts.sent) or now
    if status is None:
        # A status Stripe added after this code: nothing to keep but what holds money.
        return facts.amount if row is None else held(row)
    if row is None:
        row = Dispute(
            gateway=gateway,
            reference=facts.id,
            payment_reference=reference,
            opened_at=moment(facts.opened or facts.sent) or now,
            last_event_at=sent,
            status=status,
            amount=facts.amount,
            currency=facts.currency,
            reason=facts.reason,
        )
        db.add(row)
    elif not _later(status, sent, row):
        return held(row)
    row.payment_id = payment_id
    row.status = status
    row.last_event_at = max(sent, row.last_event_at)
    row.amount = facts.amount
    row.currency = facts.currency.upper()[:3]
    row.reason = facts.reason[:LONGEST_REASON] or "general"
    row.charge_reference = facts.charge or row.charge_reference
    if facts.fee_currency:
        row.fee, row.fee_currency = facts.fee, facts.fee_currency.upper()[:3]
    row.evidence_due_by = moment(facts.due_by) or row.evidence_due_by
    if row.closed and row.closed_at is None:
        row.closed_at = sent
    db.flush()
    return held(row)


def _later(status: DisputeStatus, sent: datetime, row: Dispute) -> bool:
    """True when an event of ``status`` sent at ``sent`` is news for the row."""
    if STAGE[status] != STAGE[row.status]:
        return STAGE[status] > STAGE[row.status]
    return sent >= row.last_event_at


def held(dispute: Dispute) -> int:
    """What a dispute holds of its payment: all it disputes while it is a chargeback
    (waiting, under review, lost); nothing once won, and nothing for an inquiry
    (``warning_*``: Stripe withdraws no money for one, and a closed inquiry never takes
    any) or a dispute prevented (any money returned to the cardholder comes back as a
    refund of its own)."""
    return dispute.amount if dispute.status in HOLDING_DISPUTE_STATUSES else 0
