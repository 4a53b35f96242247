"""What an upheld dispute changes in the books, through the ledger.

The agent who proposes "upheld" says what it means, in lines the supervisor then sees
exactly as they will apply:

- waive a named charge (a fee or a penalty), whole or part;
- reduce what an installment asks for by an amount (a wrong amount): its interest
  first, then its principal (``portal.payments.ledger.installment_shares``);
- close the case (the debt is not theirs, or fraud): write off everything still owed,
  due or not yet due; the case is resolved, and collection on the loan stops for good.

Each line is a ``HoldAdjustment`` row, its own ledger record (which hold, who proposed it
and why, who applied it and when). Applying a line raises the item's waived total by its
amount and never edits what was owed, so the books keep both; ``haohuan ledger check``
holds every applied line against the waived totals.

Amounts are integers in the currency's minor units, each more than nothing and never
more than is owed on its item (several lines on one item included). The lines are
planned when the resolution is proposed (``plan``), and only the sign-off applies them
(``apply``), in its transaction; if the books moved in between (a payment paid part of a
charge), the sign-off is refused as stale rather than forgive more than is owed.
Nothing here commits: ``portal.cases.holds`` does, once, with the hold's change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.cases.facts import record_event
from portal.models import (
    LIVE_PLAN_STATUSES,
    OPEN_OFFER_STATUSES,
    AdjustmentKind,
    AdjustmentStatus,
    Case,
    CaseHold,
    CaseStatus,
    HoldAdjustment,
    LoanCharge,
    LoanInstallment,
    Message,
    MessageStatus,
    Offer,
    OfferStatus,
    Plan,
    PlanStatus,
    StaffMember,
)
from portal.payments import ledger
from portal.payments.service import void_case_payments

# The most lines one proposal may name (a form cannot name more items than a loan has;
# this bounds a tampered one).
MAX_LINES = 20


class AdjustmentError(Exception):
    """The adjustment asked for cannot be made; ``code`` says why (stable, for the view
    to word): ``adjustment_required`` (upheld says what it changes), ``amount_invalid``
    (not a whole amount above zero), ``unknown_item`` (not a charge or installment of this
    case), ``exceeds`` (more than is owed on it), ``close_alone`` (closing the case is the
    only line), ``duplicate_item`` (one line per item), ``nothing_owed`` (nothing left to
    write off), ``too_many``, ``proposal_stale`` (the books moved since the proposal: send
    it back)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Request:
    """One thing the agent asks for: ``kind``, the charge's or installment's id (none to
    close the case), and the amount in minor units (none to close the case)."""

    kind: AdjustmentKind
    item_id: int | None = None
    amount: int | None = None


def plan(
    db: Session,
    case: Case,
    hold: CaseHold,
    requests: Sequence[Request],
    member: StaffMember,
    note: str,
    now: datetime,
) -> list[HoldAdjustment]:
    """Check the requests against what the case's loan owes now and add their lines as
    proposed (nothing moves yet). Raises ``AdjustmentError``. Does not commit."""
    if not requests:
        raise AdjustmentError("adjustment_required")
    if len(requests) > MAX_LINES:
        raise AdjustmentError("too_many")
    closing = [r for r in requests if r.kind is AdjustmentKind.WRITE_OFF]
    if closing and len(requests) > 1:
        raise AdjustmentError("close_alone")
    loan = case.loan
    lines: list[tuple[AdjustmentKind, str, LoanCharge | None, LoanInstallment | None, int]] = []
    if closing:
        owed = ledger.balance_lines(loan)
        if not owed:
            raise AdjustmentError("nothing_owed")
        lines = [(AdjustmentKind.WRITE_OFF, *line) for line in owed]
    else:
        charges = {c.id: c for c in loan.charges}
        installments = {i.id: i for i in loan.installments}
        named: set[tuple[AdjustmentKind, int]] = set()
        for request in requests:
            amount = request.amount
            if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
                raise AdjustmentError("amount_invalid")
            if (request.kind, request.item_id or 0) in named:
                raise AdjustmentError("duplicate_item")
            named.add((request.kind, request.item_id or 0))
            if request.kind is AdjustmentKind.WAIVE_CHARGE:
                charge = charges.get(request.item_id or 0)
                if charge is None:
                    raise AdjustmentError("unknown_item")
                if amount > charge.outstanding:
                    raise AdjustmentError("exceeds")
                lines.append((request.kind, charge.kind, charge, None, amount))
            else:
                installment = installments.get(request.item_id or 0)
                if installment is None:
                    raise AdjustmentError("unknown_item")
                if amount > installment.unpaid:
                    raise AdjustmentError("exceeds")
                shares = ledger.installment_shares(installment, amount)
                lines += [(request.kind, t, None, installment, a) for t, a in shares]
    rows = [
        HoldAdjustment(
            hold_id=hold.id,
            case_id=case.id,
            kind=kind,
            target=target,
            charge_id=charge.id if charge else None,
            installment_id=installment.id if installment else None,
            amount=amount,
            status=AdjustmentStatus.PROPOSED,
            note=note,
            proposed_by_id=member.id,
            proposed_at=now,
        )
        for kind, target, charge, installment, amount in lines
    ]
    db.add_all(rows)
    return rows


def of_holds(db: Session, hold_ids: Iterable[int]) -> dict[int, list[HoldAdjustment]]:
    """Each hold's lines (proposed, applied and withdrawn), oldest first."""
    wanted = list(hold_ids)
    found: dict[int, list[HoldAdjustment]] = {i: [] for i in wanted}
    if not wanted:
        return found
    rows = db.scalars(
        select(HoldAdjustment).where(HoldAdjustment.hold_id.in_(wanted)).order_by(HoldAdjustment.id)
    )
    for row in rows:
        found[row.hold_id].append(row)
    return found


def proposed(db: Session, hold: CaseHold) -> list[HoldAdjustment]:
    """The lines waiting for the hold's sign-off."""
    return [
        row for row in of_holds(db, [hold.id])[hold.id] if row.status is AdjustmentStatus.PROPOSED
    ]


def withdraw(db: Session, hold: CaseHold, now: datetime) -> int:
    """The resolution was sent back: its lines are kept, withdrawn. Does not commit."""
    rows = proposed(db, hold)
    for row in rows:
        row.status = AdjustmentStatus.WITHDRAWN
        row.withdrawn_at = now
    return len(rows)


@dataclass(frozen=True)
class Applied:
    """What a sign-off moved: the total forgiven, and whether the case was closed."""

    total: int
    closed: bool


def apply(db: Session, case: Case, hold: CaseHold, member: StaffMember, now: datetime) -> Applied:
    """Apply the hold's proposed lines to the books, each checked again against what is
    owed now (``proposal_stale`` when it no longer fits, and nothing moves); closing the
    case also resolves it and stops what would still reach the borrower about the loan.
    The caller holds the case's lock. Does not commit."""
    rows = proposed(db, hold)
    charges = {c.id: c for c in case.loan.charges}
    installments = {i.id: i for i in case.loan.installments}
    items = [
        (
            row,
            charges.get(row.charge_id) if row.charge_id else None,
            installments.get(row.installment_id) if row.installment_id else None,
        )
        for row in rows
    ]
    wanted: dict[tuple[str, int | None, int | None], int] = {}
    for row, _charge, _installment in items:
        key = (row.target, row.charge_id, row.installment_id)
        wanted[key] = wanted.get(key, 0) + row.amount
    for row, charge, installment in items:
        if charge is None and installment is None:
            raise AdjustmentError("proposal_stale")
        key = (row.target, row.charge_id, row.installment_id)
        if wanted[key] > ledger.owed_on(row.target, charge, installment):
            raise AdjustmentError("proposal_stale")
    closing = any(row.kind is AdjustmentKind.WRITE_OFF for row in rows)
    for row, charge, installment in items:
        ledger.forgive(row.target, charge, installment, row.amount)
        row.status = AdjustmentStatus.APPLIED
        row.applied_by_id = member.id
        row.applied_at = now
    if closing and ledger.balance_lines(case.loan):
        # Something was charged after the proposal: writing off less would leave a debt
        # behind a "closed" case.
        raise AdjustmentError("proposal_stale")
    total = sum(row.amount for row in rows)
    record_event(
        db,
        case,
        "dispute_adjusted",
        "agent",
        at=now,
        by=member.email,
        hold_id=hold.id,
        amount=total,
        lines=[row.id for row in rows],
        closed=closing,
    )
    if closing:
        _close(db, case, now)
    return Applied(total, closing)


def _close(db: Session, case: Case, now: datetime) -> None:
    """The balance is written off: the case is resolved with nothing owed, so the daily
    work can never reopen it (no installment can fall overdue, no penalty accrues), and
    what would still reach the borrower about the loan is stopped: live plans are
    cancelled, open checkouts voided, open offers withdrawn, scheduled reminders cancelled.
    """
    case.status = CaseStatus.RESOLVED
    case.overdue_since = None
    case.updated_at = now
    plans = db.scalars(
        select(Plan).where(Plan.case_id == case.id, Plan.status.in_(LIVE_PLAN_STATUSES))
    ).all()
    for live in plans:
        live.status = PlanStatus.CANCELLED
    # Their intents are cancelled at the provider too, after the commit.
    void_case_payments(db, case_id=case.id, now=now)
    db.execute(
        update(Offer)
        .where(Offer.case_id == case.id, Offer.status.in_(OPEN_OFFER_STATUSES))
        .values(status=OfferStatus.WITHDRAWN)
    )
    db.execute(
        update(Message)
        .where(Message.case_id == case.id, Message.status == MessageStatus.SCHEDULED)
        .values(status=MessageStatus.CANCELLED, error="written_off")
    )
    record_event(
        db, case, "case_closed", "agent", at=now, reason="written_off", plans=[p.id for p in plans]
    )
