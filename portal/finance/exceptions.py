"""Reconciliation exceptions: every unmatched or mismatched line, worked by finance to
an end and shown to the auditor.

After each completed run (``track``, in the run's own transaction) every line that needs
a person opens an exception, one per line's identity (its kind, currency and reference):
the next run that finds the same line finds the same exception and points it at its new
line, and never reopens one already resolved or written off.

Finance takes or assigns an exception, writes notes, marks it under investigation, and
resolves it by one of the ``Resolution`` kinds, each doing its work through the service
that already does it: a missing refund or payment is recorded through
``portal.payments.events.handle``, the path the gateway's own events take, so the ledger
moves exactly as it would have; a write-off above the currency's approval limit waits
for a second finance member (``portal.finance.approval``). Each action appends a history
row (``ExceptionNote``) and an audit entry and commits once, at its end. Nothing in a
closed month changes (``portal.finance.closing``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from portal.audit import trail
from portal.finance import approval, closing
from portal.models import (
    ACTIVE_EXCEPTION_STATUSES,
    ExceptionNote,
    ExceptionStatus,
    Payment,
    PaymentStatus,
    ReconciliationException,
    ReconciliationItem,
    ReconciliationRun,
    Resolution,
    StaffMember,
)
from portal.payments.events import GatewayEvent, Outcome, TooEarlyError, handle

# Reconciliation's line kinds and notes this module reads (``portal.finance.reconcile``
# names them; repeated here so a run can call this module without an import cycle).
MISSING_HERE = "missing_here"
MISSING_AT_STRIPE = "missing_at_stripe"
AMOUNT_MISMATCH = "amount_mismatch"
PAYOUT_MISMATCH = "payout_mismatch"
MATCHED = "matched"
PAYOUT_OK = "payout_ok"
CHARGE_TYPES = frozenset({"charge", "payment"})
REFUND_TYPES = frozenset({"refund", "payment_refund"})
NOT_SUCCEEDED = "not_succeeded"
NO_PAYMENT = "no_payment"
REFUNDS_DIFFER = "refunds_differ"
LONGEST_NOTE = 2000


class Refusal(StrEnum):
    """Why an action on an exception was refused (worded by ``portal.wording.finance``)."""

    FINISHED = "finished"  # already resolved or written off
    PERIOD_CLOSED = "period_closed"
    NOT_FINANCE = "not_finance"  # the owner named is not an active finance member
    NO_PAYMENT = "no_payment"
    OTHER_CURRENCY = "other_currency"
    NOT_APPLICABLE = "not_applicable"  # this resolution does not fit this line
    ALREADY_RECORDED = "already_recorded"
    NO_REQUEST = "no_request"  # nothing waits for approval
    SAME_PERSON = "same_person"
    NOTE_NEEDED = "note_needed"
    PENDING_APPROVAL = "pending_approval"


class ExceptionError(Exception):
    """An action refused; ``reason`` says why."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


# Tracking runs ------------------------------------------------------------------------------


def identity_of(item: ReconciliationItem) -> str:
    """A line's stable identity across runs: its kind, currency and the reference that
    names it (Stripe's balance transaction, the payout, or our payment)."""
    return f"{item.kind}:{item.currency}:{reference_of(item)}"


def reference_of(item: ReconciliationItem) -> str:
    """What names a line: Stripe's balance transaction or payout, else our payment (a
    line of ours Stripe has nothing for), else the PaymentIntent."""
    if item.balance_transaction:
        return item.balance_transaction
    if item.payout:
        return item.payout
    if item.payment_id is not None:
        return f"payment:{item.payment_id}"
    return item.payment_intent or f"item:{item.id}"


def track(db: Session, run: ReconciliationRun, unmatched: Collection[str], now: datetime) -> int:
    """Open an exception for each line of ``run`` whose kind is in ``unmatched`` and that
    has none yet, and point the existing ones at their latest line; a resolved or
    written-off exception stays as it is. Flushes, never commits: the run's own commit
    stores both. Returns how many were opened."""
    _clear_matched(db, run, now)
    lines = [item for item in run.items if item.kind in unmatched]
    if not lines:
        db.flush()
        return 0
    identities = {identity_of(item): item for item in lines}
    existing = {
        found.identity: found
        for found in db.scalars(
            select(ReconciliationException).where(
                ReconciliationException.identity.in_(list(identities))
            )
        )
    }
    zone = closing.finance_zone()
    opened = 0
    for identity, item in identities.items():
        found = existing.get(identity)
        if found is None:
            found = ReconciliationException(
                identity=identity,
                kind=item.kind,
                currency=item.currency,
                reference=reference_of(item)[:128],
                month=closing.month_of(_when(db, item, run), zone),
                status=ExceptionStatus.OPEN,
                opened_at=now,
            )
            db.add(found)
            _history(db, found, "system", "opened", now, {"run_id": run.id})
            opened += 1
        found.item, found.run_id, found.last_seen_at = item, run.id, now
        if found.status in ACTIVE_EXCEPTION_STATUSES:
            # What the line says now; a finished exception keeps what it was settled on.
            found.stripe_amount, found.our_amount = item.stripe_amount, item.our_amount
            if item.payment_id is not None:
                found.payment_id = item.payment_id
    db.flush()
    return opened


def _clear_matched(db: Session, run: ReconciliationRun, now: datetime) -> None:
    """Resolve each open exception whose line ``run`` now matches: the same balance
    transaction or payout, or a charge of the payment Stripe lacked, in the same
    currency (Stripe's record came late, or ours was put right). Its month would
    otherwise stay blocked by a line nobody has anything left to do for."""
    good: set[tuple[str, str]] = set()
    for item in run.items:
        if item.kind not in (MATCHED, PAYOUT_OK):
            continue
        for reference in (item.balance_transaction, item.payout):
            if reference:
                good.add((item.currency, reference))
        if item.payment_id is not None and item.kind == MATCHED:
            good.add((item.currency, f"payment:{item.payment_id}"))
    if not good:
        return
    active = select(ReconciliationException).where(
        ReconciliationException.status.in_(ACTIVE_EXCEPTION_STATUSES),
        ReconciliationException.reference.in_(sorted({reference for _, reference in good})),
    )
    for found in db.scalars(active):
        if (found.currency, found.reference) not in good:
            continue
        found.status = ExceptionStatus.RESOLVED
        found.resolution = Resolution.MATCHED_LATER
        found.resolved_at, found.run_id, found.last_seen_at = now, run.id, now
        _history(db, found, "system", "matched_later", now, {"run_id": run.id})


def _when(db: Session, item: ReconciliationItem, run: ReconciliationRun) -> datetime:
    """When a line happened: Stripe's time, else our payment's confirmation, else the
    start of the run's period."""
    if item.occurred_at is not None:
        return item.occurred_at
    if item.payment_id is not None:
        confirmed = db.scalar(select(Payment.confirmed_at).where(Payment.id == item.payment_id))
        if confirmed is not None:
            return confirmed
    return run.since


# Reading ------------------------------------------------------------------------------------

OWNER_FILTERS = ("mine", "nobody", "anyone")
STATUS_FILTERS = ("active", *(status.value for status in ExceptionStatus), "all")


@dataclass(frozen=True)
class ExceptionFilters:
    """The list's filters: whose (mine, nobody's, anyone's, or a member's id) and which
    statuses (the active ones by default)."""

    owner: str = "anyone"
    status: str = "active"


def listing(
    db: Session, viewer: StaffMember | None, filters: ExceptionFilters, limit: int = 500
) -> list[ReconciliationException]:
    """The exceptions the filters keep: the viewer's own first (none at the command
    line), then oldest first."""
    viewer_id = viewer.id if viewer is not None else None
    query = select(ReconciliationException)
    if filters.status == "active":
        query = query.where(ReconciliationException.status.in_(ACTIVE_EXCEPTION_STATUSES))
    elif filters.status != "all":
        query = query.where(ReconciliationException.status == filters.status)
    if filters.owner == "mine":
        # Nobody's own at the command line (an id no member has; never IS NULL).
        query = query.where(ReconciliationException.owner_id == (viewer_id or 0))
    elif filters.owner == "nobody":
        query = query.where(ReconciliationException.owner_id.is_(None))
    elif filters.owner.isdigit():
        query = query.where(ReconciliationException.owner_id == int(filters.owner))
    if viewer_id is not None:
        query = query.order_by(case((ReconciliationException.owner_id == viewer_id, 0), else_=1))
    ordered = query.order_by(ReconciliationException.opened_at, ReconciliationException.id)
    return list(db.scalars(ordered.limit(limit)))


def finance_members(db: Session) -> list[StaffMember]:
    """The active finance members an exception can be assigned to."""
    members = db.scalars(
        select(StaffMember).where(StaffMember.active.is_(True)).order_by(StaffMember.name)
    )
    return [m for m in members if approval.FINANCE_ROLE in m.role_set]


def people(db: Session, ids: Collection[int]) -> dict[int, StaffMember]:
    """The staff members named by ``ids`` (owners, askers, approvers), by id."""
    if not ids:
        return {}
    found = db.scalars(select(StaffMember).where(StaffMember.id.in_(list(ids))))
    return {member.id: member for member in found}


def resolutions(found: ReconciliationException) -> list[Resolution]:
    """The resolutions that fit the exception's line (a duplicate and a write-off fit
    every line)."""
    item = found.item
    fitting = []
    if found.kind == MISSING_HERE and item.note_code != NOT_SUCCEEDED:
        fitting.append(Resolution.LINKED_TO_PAYMENT)
    if _refund_to_record(found) is not None:
        fitting.append(Resolution.RECORDED_REFUND)
    if found.kind == MISSING_HERE and item.note_code == NOT_SUCCEEDED and found.payment_id:
        fitting.append(Resolution.RECORDED_PAYMENT)
    return [*fitting, Resolution.DUPLICATE, Resolution.WRITTEN_OFF]


def write_off_amount(found: ReconciliationException) -> int:
    """What writing the line off costs or gains, as a positive amount of its currency
    in minor units: the difference for a mismatch, the whole line otherwise."""
    item = found.item
    values = item.note_values or {}
    if item.note_code == REFUNDS_DIFFER:
        return abs(int(values.get("stripe", 0)) - int(values.get("ours", 0)))
    if found.kind == MISSING_AT_STRIPE:
        return abs(item.our_amount or 0)
    if found.kind == PAYOUT_MISMATCH:
        return abs((item.stripe_amount or 0) - (item.net or 0))
    if found.kind == AMOUNT_MISMATCH:
        return abs((item.stripe_amount or 0) - (item.our_amount or 0))
    return abs(item.stripe_amount or 0)


def _refund_to_record(found: ReconciliationException) -> int | None:
    """The total Stripe refunded of the line's payment, when we recorded less of it."""
    item = found.item
    if item.transaction_type not in REFUND_TYPES or item.note_code != REFUNDS_DIFFER:
        return None
    if found.payment_id is None:
        return None
    return int((item.note_values or {}).get("stripe", 0))


# Working an exception ----------------------------------------------------------------------


def _workable(db: Session, found: ReconciliationException) -> None:
    """Refuse any change to a finished exception, or to one in a closed month."""
    if found.status not in ACTIVE_EXCEPTION_STATUSES:
        raise ExceptionError(Refusal.FINISHED)
    if closing.closed(db, found.month) is not None:
        raise ExceptionError(Refusal.PERIOD_CLOSED)


def _history(
    db: Session,
    found: ReconciliationException,
    actor: StaffMember | str,
    action: str,
    now: datetime,
    values: dict[str, Any] | None = None,
    text: str | None = None,
) -> None:
    member = actor if isinstance(actor, StaffMember) else None
    db.add(
        ExceptionNote(
            exception=found,
            at=now,
            author_id=member.id if member else None,
            author=member.email if member else str(actor),
            action=action,
            values=values or {},
            text=text,
        )
    )


def _case_of(db: Session, found: ReconciliationException) -> int | None:
    if found.payment_id is None:
        return None
    return db.scalar(select(Payment.case_id).where(Payment.id == found.payment_id))


def _note_text(text: str | None, *, required: bool = False) -> str | None:
    cleaned = (text or "").strip()[:LONGEST_NOTE]
    if required and not cleaned:
        raise ExceptionError(Refusal.NOTE_NEEDED)
    return cleaned or None


def assign(
    db: Session,
    found: ReconciliationException,
    owner: StaffMember,
    actor: StaffMember,
    now: datetime,
) -> None:
    """Make ``owner`` (an active finance member) the exception's owner. Commits."""
    _workable(db, found)
    if not owner.active or approval.FINANCE_ROLE not in owner.role_set:
        raise ExceptionError(Refusal.NOT_FINANCE)
    found.owner_id = owner.id
    _history(db, found, actor, "assigned", now, {"owner": owner.email})
    trail.record(
        db,
        actor,
        "reconcile.exception.assign",
        now,
        case_id=_case_of(db, found),
        exception_id=found.id,
        owner=owner.email,
    )
    db.commit()


def add_note(
    db: Session, found: ReconciliationException, actor: StaffMember, text: str, now: datetime
) -> None:
    """Append ``actor``'s note to the exception's history. Commits."""
    _workable(db, found)
    _history(db, found, actor, "note", now, text=_note_text(text, required=True))
    trail.record(
        db,
        actor,
        "reconcile.exception.note",
        now,
        case_id=_case_of(db, found),
        exception_id=found.id,
    )
    db.commit()


def investigate(
    db: Session, found: ReconciliationException, actor: StaffMember, now: datetime
) -> None:
    """Mark the exception under investigation (and ``actor``'s, when nobody owns it).
    Commits."""
    _workable(db, found)
    found.status = ExceptionStatus.INVESTIGATING
    if found.owner_id is None:
        found.owner_id = actor.id
    _history(db, found, actor, "investigating", now)
    trail.record(
        db,
        actor,
        "reconcile.exception.investigate",
        now,
        case_id=_case_of(db, found),
        exception_id=found.id,
    )
    db.commit()


def _resolve(
    db: Session,
    found: ReconciliationException,
    actor: StaffMember,
    resolution: Resolution,
    now: datetime,
    status: ExceptionStatus = ExceptionStatus.RESOLVED,
) -> None:
    if found.write_off_by is not None and resolution is not Resolution.WRITTEN_OFF:
        found.write_off_by = found.write_off_at = found.write_off_amount = None
    found.status, found.resolution = status, resolution
    found.resolved_by, found.resolved_at = actor.id, now
    if found.owner_id is None:
        found.owner_id = actor.id


def _fits(found: ReconciliationException, resolution: Resolution) -> None:
    if resolution not in resolutions(found):
        raise ExceptionError(Refusal.NOT_APPLICABLE)


def link_payment(
    db: Session,
    found: ReconciliationException,
    payment_id: int,
    actor: StaffMember,
    text: str | None,
    now: datetime,
) -> None:
    """Resolve a line Stripe has and we could not match by linking it to our payment
    ``payment_id`` (in the line's currency): the exception and its line name the payment
    from now on. Commits."""
    _workable(db, found)
    _fits(found, Resolution.LINKED_TO_PAYMENT)
    payment = db.get(Payment, payment_id)
    if payment is None:
        raise ExceptionError(Refusal.NO_PAYMENT)
    if payment.currency.upper() != found.currency.upper():
        raise ExceptionError(Refusal.OTHER_CURRENCY)
    found.payment_id = payment.id
    found.item.payment_id = payment.id
    _resolve(db, found, actor, Resolution.LINKED_TO_PAYMENT, now)
    _history(db, found, actor, "linked", now, {"payment_id": payment.id}, _note_text(text))
    trail.record(
        db,
        actor,
        "reconcile.exception.link",
        now,
        case_id=payment.case_id,
        exception_id=found.id,
        payment_id=payment.id,
    )
    db.commit()


def record_refund(
    db: Session, found: ReconciliationException, actor: StaffMember, now: datetime
) -> None:
    """Record the refund Stripe made and we did not, as the gateway's refund event would
    have: through ``events.handle``, which reverses the payment's allocations by exactly
    what is newly refunded. The resolution, its history and audit entry commit with the
    event. Commits."""
    _workable(db, found)
    total = _refund_to_record(found)
    payment = db.get(Payment, found.payment_id) if found.payment_id else None
    if total is None or payment is None or not payment.gateway_reference:
        raise ExceptionError(Refusal.NOT_APPLICABLE)
    event = GatewayEvent(
        payment.gateway,
        f"reconcile_exception_{found.id}_refund",
        payment.gateway_reference,
        Outcome.REFUNDED,
        total,
    )
    _resolve(db, found, actor, Resolution.RECORDED_REFUND, now)
    _history(db, found, actor, "refund_recorded", now, {"refunded": total})
    trail.record(
        db,
        actor,
        "reconcile.exception.refund",
        now,
        case_id=payment.case_id,
        exception_id=found.id,
        payment_id=payment.id,
        refunded=total,
    )
    _handled(db, event, now)


def record_payment(
    db: Session, found: ReconciliationException, actor: StaffMember, now: datetime
) -> None:
    """Record the payment Stripe took and we never saw succeed, as the gateway's success
    event would have: through ``events.handle``, with the amount and currency Stripe
    took (another amount marks the payment mismatched, never paid). Commits."""
    _workable(db, found)
    _fits(found, Resolution.RECORDED_PAYMENT)
    payment = db.get(Payment, found.payment_id) if found.payment_id else None
    if payment is None or not payment.gateway_reference:
        raise ExceptionError(Refusal.NO_PAYMENT)
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.MISMATCHED):
        raise ExceptionError(Refusal.ALREADY_RECORDED)
    item = found.item
    event = GatewayEvent(
        payment.gateway,
        f"reconcile_exception_{found.id}_payment",
        payment.gateway_reference,
        Outcome.SUCCEEDED,
        item.stripe_amount or 0,
        item.currency,
    )
    _resolve(db, found, actor, Resolution.RECORDED_PAYMENT, now)
    _history(db, found, actor, "payment_recorded", now, {"payment_id": payment.id})
    trail.record(
        db,
        actor,
        "reconcile.exception.payment",
        now,
        case_id=payment.case_id,
        exception_id=found.id,
        payment_id=payment.id,
    )
    _handled(db, event, now)


def _handled(db: Session, event: GatewayEvent, now: datetime) -> None:
    """Apply the event; it commits everything pending with it. A second try of the same
    resolution is the same event: handle rolls it back (as it does an event too early),
    and it is refused. Every other refusal comes before anything changes, so the caller
    never has to roll back."""
    try:
        handled = handle(db, event, now)
    except TooEarlyError:  # the payment has not succeeded here: nothing to take back
        raise ExceptionError(Refusal.NOT_APPLICABLE) from None
    if not handled:
        raise ExceptionError(Refusal.ALREADY_RECORDED)


def mark_duplicate(
    db: Session, found: ReconciliationException, actor: StaffMember, text: str, now: datetime
) -> None:
    """Resolve the line as a duplicate of one already accounted for; the note (required)
    says of what. Commits."""
    _workable(db, found)
    note = _note_text(text, required=True)
    _resolve(db, found, actor, Resolution.DUPLICATE, now)
    _history(db, found, actor, "duplicate", now, text=note)
    trail.record(
        db,
        actor,
        "reconcile.exception.duplicate",
        now,
        case_id=_case_of(db, found),
        exception_id=found.id,
    )
    db.commit()


def write_off(
    db: Session, found: ReconciliationException, actor: StaffMember, text: str, now: datetime
) -> bool:
    """Write the line off, with a reason (required). Up to the currency's approval
    limit it is written off now (True); above it the request waits for a second finance
    member (False, ``approve_write_off``). Commits."""
    _workable(db, found)
    if found.write_off_by is not None:
        raise ExceptionError(Refusal.PENDING_APPROVAL)
    note = _note_text(text, required=True)
    amount = write_off_amount(found)
    found.write_off_amount = amount
    found.write_off_by, found.write_off_at = actor.id, now
    alone = not approval.needs_second_person(amount, found.currency)
    if alone:
        _resolve(db, found, actor, Resolution.WRITTEN_OFF, now, ExceptionStatus.WRITTEN_OFF)
        _history(db, found, actor, "written_off", now, {"amount": amount}, note)
    else:
        found.status = ExceptionStatus.INVESTIGATING
        _history(db, found, actor, "write_off_requested", now, {"amount": amount}, note)
    trail.record(
        db,
        actor,
        "reconcile.exception.write_off",
        now,
        case_id=_case_of(db, found),
        exception_id=found.id,
        amount=amount,
        currency=found.currency,
        approved=alone,
    )
    db.commit()
    return alone


def approve_write_off(
    db: Session, found: ReconciliationException, approver: StaffMember, now: datetime
) -> None:
    """A second finance member (never the one who asked) approves the write-off waiting
    on the exception. Commits."""
    _workable(db, found)
    if found.write_off_by is None:
        raise ExceptionError(Refusal.NO_REQUEST)
    try:
        approval.check_second_person(found.write_off_by, approver)
    except approval.SamePersonError:
        raise ExceptionError(Refusal.SAME_PERSON) from None
    found.approved_by, found.approved_at = approver.id, now
    found.status, found.resolution = ExceptionStatus.WRITTEN_OFF, Resolution.WRITTEN_OFF
    found.resolved_by, found.resolved_at = approver.id, now
    _history(db, found, approver, "write_off_approved", now, {"amount": found.write_off_amount})
    trail.record(
        db,
        approver,
        "reconcile.exception.approve",
        now,
        case_id=_case_of(db, found),
        exception_id=found.id,
        amount=found.write_off_amount,
        currency=found.currency,
    )
    db.commit()


def record_view(
    db: Session, found: ReconciliationException, actor: StaffMember, now: datetime
) -> None:
    """Record that ``actor`` read the exception (its line names a payment and amounts).
    Commits, as any read does."""
    trail.record_read(
        db,
        actor,
        "reconcile.exception.view",
        now,
        case_id=_case_of(db, found),
        exception_id=found.id,
    )
