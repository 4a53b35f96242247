"""Gateway events: the one path by which a payment's outcome changes a case.

The sandbox's checkout page, Stripe's return page and sweeper, and the Stripe webhook
all end here: the webhook records each event in its inbox and acknowledges it, and a job
settles it here afterwards (``portal.payments.inbox``). Each event is handled
once: its id is written in the same transaction as its effects, under a unique
constraint, so a redelivery (or twenty at once) changes nothing more. A payment never
moves back from succeeded; money received is always applied to the loan, even when the
plan it was meant for has been withdrawn since.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.cases import arrears
from portal.cases.facts import record_event
from portal.cases.overdue import borrower_today
from portal.contact.promises import keep_if_paid
from portal.core.db import lock_row
from portal.legal import hooks as legal_hooks
from portal.models import (
    LIVE_PLAN_STATUSES,
    OPEN_PAYMENT_STATUSES,
    Allocation,
    AllocationCause,
    Case,
    CaseStatus,
    EventOutcome,
    Loan,
    LoanCharge,
    LoanInstallment,
    Payment,
    PaymentStatus,
    Plan,
    PlanStatus,
    ProcessedEvent,
    Waiver,
)
from portal.payments.disputes import DisputeFacts, track
from portal.payments.ledger import (
    apply_to_loan,
    reinstate,
    waterfall,
    write_off_balance,
    write_off_charges,
    write_off_future_interest,
)

log = logging.getLogger(__name__)

_PROCESSED = cast(Table, ProcessedEvent.__table__)


# What a gateway says happened to a payment: the enum the webhook inbox stores
# (``portal.models.EventOutcome``), under the name the payment code has always used.
Outcome = EventOutcome


@dataclass(frozen=True)
class GatewayEvent:
    """One event from a gateway, already authenticated by the caller.

    For REFUNDED, ``amount`` is everything refunded so far (Stripe reports the running
    total); for DISPUTED, what the dispute now holds (its amount while open or lost,
    zero once won). For SUCCEEDED with a ``currency``, the amount and currency the
    gateway says it took (every Stripe path reports them: the webhook, the return page,
    the sweeper); they must be the payment's own, or the payment is mismatched.
    """

    gateway: str
    event_id: str
    reference: str
    outcome: Outcome
    amount: int = 0
    currency: str = ""
    # For DISPUTED, the dispute's own details when the gateway sent them: kept in
    # ``disputes``, and the amount held is then the dispute's (see ``disputes.track``).
    dispute: DisputeFacts | None = None


class TooEarlyError(RuntimeError):
    """The event is about a payment whose success has not reached us yet (providers do
    not promise order): nothing is recorded, so a later try applies it (the webhook
    inbox holds the event and tries again)."""


def handle(db: Session, event: GatewayEvent, now: datetime) -> bool:
    """Apply an event once. Returns False when it was a duplicate; raises TooEarlyError,
    having written nothing, for a refund or dispute that overtook its payment. Commits."""
    # The event's id first, under its unique constraint: a redelivery stops here. A plain
    # INSERT on the table (no ORM object, no RETURNING); what the session holds is flushed
    # first, as adding the row would have done.
    claim = insert(_PROCESSED).values(
        gateway=event.gateway, event_id=event.event_id, received_at=now
    )
    try:
        db.flush()
        db.execute(claim)
    except IntegrityError:
        db.rollback()
        return False
    payment: Payment | None = None
    if event.outcome in (Outcome.REFUNDED, Outcome.DISPUTED):
        try:
            if event.dispute is not None:
                # The dispute's row first: what it holds now, whatever order its events
                # came in, is what the ledger holds.
                holds = track(db, event.gateway, event.reference, event.dispute, now)
                event = dataclasses.replace(event, amount=holds)
            _take_back(db, event, now)
        except TooEarlyError:
            db.rollback()
            raise
    elif event.outcome is Outcome.DECLINED:
        _declined(db, event)
    elif event.outcome is Outcome.SUCCEEDED and (payment := _claim_success(db, event, now)):
        pass  # the usual success: claimed and read back in one statement
    elif event.outcome is Outcome.SUCCEEDED and _mismatched(db, event):
        pass
    elif (payment_id := _claim(db, event, now)) is not None:
        # Everything the claim may have changed under us is read again, fresh: objects
        # loaded earlier in this session (the borrower's case, a sweep's list) are stale.
        db.expire_all()
        payment = db.get(Payment, payment_id)
        assert payment is not None  # the row was just claimed  # noqa: S101
    if payment is not None and event.outcome is Outcome.SUCCEEDED:
        # Everything is read before anything is written, and written in one flush at the
        # commit: nothing read here depends on what this payment changes before then.
        with db.no_autoflush:
            _succeed(db, _settling(db, payment.case_id), payment, now)
    elif payment is not None:
        case = db.get(Case, payment.case_id, with_for_update=True)
        assert case is not None  # a payment always belongs to a case  # noqa: S101
        record_event(db, case, "payment_failed", "system", at=now, payment_id=payment.id)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        return False
    return True


def _claim_success(db: Session, event: GatewayEvent, now: datetime) -> Payment | None:
    """The usual success in one statement: the payment, when it is still open and (if the
    event says what was taken) for exactly the amount and currency taken, moved to
    succeeded and read back fresh. None otherwise (no such payment, one already final, or
    another amount): the caller then works out which, as ``_mismatched`` and ``_claim``
    always have. Concurrent handlers race on the UPDATE's conditions, as in ``_claim``."""
    conditions = [
        Payment.gateway_reference == event.reference,
        Payment.status.not_in((PaymentStatus.SUCCEEDED, PaymentStatus.MISMATCHED)),
        Payment.confirmed_at.is_(None),  # a success is applied once, ever
    ]
    if event.currency:
        conditions += [
            Payment.amount == event.amount,
            func.upper(Payment.currency) == event.currency.upper(),
        ]
    # Objects loaded earlier in this session (the borrower's case, a sweep's list) are
    # stale once the payment moves: everything settling it reads is read again, fresh.
    db.expire_all()
    claim = (
        update(Payment)
        .where(*conditions)
        .values(status=PaymentStatus.SUCCEEDED, confirmed_at=now)
        .returning(Payment)
    )
    options = {"populate_existing": True, "synchronize_session": False}
    return db.scalars(claim, execution_options=options).first()


def _settling(db: Session, case_id: int) -> Case:
    """The payment's case, locked (its row alone), with all that settling a payment reads
    of it: the loan, its borrower (whose today it is), the loan's installments and, in a
    further statement, its charges.

    The row is locked in a statement of its own, and only then is the graph read: under
    READ COMMITTED a statement that waits for a lock returns the locked row as it is
    now but the rows it joins as they were when it began, so a second payment settling
    the same case at the same moment would allocate against installments the first one
    has paid since."""
    db.execute(select(Case.id).where(Case.id == case_id).with_for_update())
    found = db.scalars(
        select(Case)
        .where(Case.id == case_id)
        .options(
            joinedload(Case.loan, innerjoin=True).options(
                joinedload(Loan.borrower, innerjoin=True),
                joinedload(Loan.installments),
                selectinload(Loan.charges),
            )
        )
    )
    case = found.unique().one()
    # Locked and loaded: the flush at the commit counts the stored overdue amount from
    # these objects (one UPDATE by key) instead of counting the loan again in SQL.
    arrears.held(db, case.loan)
    return case


def _locked_plan(db: Session, *criteria: ColumnElement[bool]) -> Plan | None:
    """The first plan matching ``criteria``, locked (its row alone), with its
    installments."""
    found = db.scalars(
        select(Plan)
        .where(*criteria)
        .options(joinedload(Plan.installments))
        .with_for_update(of=Plan)
    )
    plans = found.unique().all()
    return plans[0] if plans else None


def _declined(db: Session, event: GatewayEvent) -> None:
    """A card declined: told to the case, the payment left open for another try."""
    payment = db.scalars(
        select(Payment).where(Payment.gateway_reference == event.reference)
    ).first()
    if payment is not None and payment.status in OPEN_PAYMENT_STATUSES:
        case = db.get(Case, payment.case_id)
        if case is not None:
            record_event(db, case, "payment_declined", "system", payment_id=payment.id)


def _mismatched(db: Session, event: GatewayEvent) -> bool:
    """A success for another amount or currency than the payment's: the payment is
    closed as mismatched (never paid, nothing allocated), the case is told, and finance
    sees it for review. True when the event was such a success."""
    if not event.currency:
        return False
    payment = db.scalars(
        select(Payment).where(Payment.gateway_reference == event.reference)
    ).first()
    if payment is None:
        return False
    if (event.amount, event.currency.upper()) == (payment.amount, payment.currency.upper()):
        return False
    moved = db.execute(
        update(Payment)
        .where(
            Payment.id == payment.id,
            Payment.status.not_in((PaymentStatus.SUCCEEDED, PaymentStatus.MISMATCHED)),
            Payment.confirmed_at.is_(None),
        )
        .values(status=PaymentStatus.MISMATCHED)
        .returning(Payment.id)
    ).first()
    log.warning(
        "gateway event %s reports %s %s for payment %s of %s %s: held for review",
        event.event_id,
        event.amount,
        event.currency,
        payment.id,
        payment.amount,
        payment.currency,
    )
    if moved is not None:
        case = db.get(Case, payment.case_id, with_for_update=True)
        assert case is not None  # a payment always belongs to a case  # noqa: S101
        record_event(
            db,
            case,
            "payment_mismatched",
            "system",
            payment_id=payment.id,
            amount=payment.amount,
            currency=payment.currency,
            reported_amount=event.amount,
            reported_currency=event.currency.upper(),
        )
    return True


def _claim(db: Session, event: GatewayEvent, now: datetime) -> int | None:
    """Move the payment to the event's outcome in one conditional UPDATE, so that of any
    number of concurrent handlers (a webhook, a sweep, a double click) exactly one gets
    it back; a success is final, a failure never overrides one. None when there is
    nothing to do."""
    if event.outcome is Outcome.SUCCEEDED:
        claim = (
            update(Payment)
            .where(
                Payment.gateway_reference == event.reference,
                # A mismatched success is final too: only finance can decide it.
                Payment.status.not_in((PaymentStatus.SUCCEEDED, PaymentStatus.MISMATCHED)),
                Payment.confirmed_at.is_(None),  # a success is applied once, ever
            )
            .values(status=PaymentStatus.SUCCEEDED, confirmed_at=now)
        )
    else:
        claim = (
            update(Payment)
            .where(
                Payment.gateway_reference == event.reference,
                Payment.status.not_in(
                    (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.MISMATCHED)
                ),
            )
            .values(status=PaymentStatus.FAILED)
        )
    claimed = db.execute(claim.returning(Payment.id)).scalars().first()
    if (
        claimed is None
        and not db.scalars(
            select(Payment.id).where(Payment.gateway_reference == event.reference)
        ).first()
    ):
        log.warning("gateway event %s names no payment we know", event.event_id)
    return claimed


def _succeed(db: Session, case: Case, payment: Payment, now: datetime) -> None:
    """Record the money, then let it move the plan it was for, if that plan is live; money
    that arrives for no plan while one is live counts for that plan. A promise to pay
    that the money completes is kept at once."""
    record_event(
        db,
        case,
        "payment_succeeded",
        "system",
        at=now,
        payment_id=payment.id,
        amount=payment.amount,
    )
    today = borrower_today(case.loan.borrower.timezone, now)
    plan = _locked_plan(db, Plan.id == payment.plan_id) if payment.plan_id else None
    if plan is not None and plan.status not in LIVE_PLAN_STATUSES:
        record_event(db, case, "payment_for_closed_plan", "system", at=now, plan_id=plan.id)
        plan = None
    elif plan is None:
        plan = _locked_plan(db, Plan.case_id == case.id, Plan.status.in_(LIVE_PLAN_STATUSES))
    # From here a payment's plan is the plan its money counted for, so that a refund or
    # a dispute unwinds exactly that plan (or none).
    payment.plan_id = plan.id if plan is not None else None
    if plan is None:
        _record(db, case, payment, apply_to_loan(case.loan, payment.amount, today), now)
    else:
        _record(db, case, payment, _pay_plan(db, case, plan, payment.amount, now, today), now)
    keep_if_paid(db, case, now)
    # Paid before the final notice's deadline: the legal track stops (issue 19).
    legal_hooks.on_payment(db, case, today, now)


def _pay_plan(
    db: Session, case: Case, plan: Plan, amount: int, now: datetime, today: date
) -> list[Allocation]:
    """Money for a live plan: its first installment activates it, its last completes it,
    and the money goes to the loan by the waterfall. Returns the allocations."""
    if plan.status == PlanStatus.PENDING:
        _activate(db, case, plan, now, today)
    _allocate_to_plan(plan, amount)
    completed = plan.next_due is None
    if completed and plan.conditional_waiver:
        _keep(
            db,
            plan,
            "completion",
            now,
            write_off_charges(case.loan, penalties=plan.waived_penalties, fees=plan.waived_fees),
        )
    reserve = plan.conditional_waiver and not completed
    shares = apply_to_loan(
        case.loan,
        amount,
        today,
        reserved_penalties=plan.waived_penalties if reserve else 0,
        reserved_fees=plan.waived_fees if reserve else 0,
    )
    if completed:
        if plan.discount:
            _keep(db, plan, "completion", now, write_off_balance(case.loan, plan.discount))
        plan.status = PlanStatus.COMPLETED
        case.status = CaseStatus.RESOLVED
        record_event(db, case, "plan_completed", "system", at=now, plan_id=plan.id)
    return shares


def _activate(db: Session, case: Case, plan: Plan, now: datetime, today: date) -> None:
    plan.status = PlanStatus.ACTIVE
    plan.activated_at = now
    case.status = CaseStatus.ARRANGED
    # An unconditional waiver is granted at once; a conditional one is earned by keeping
    # the plan to the end (and reinstated if it breaks).
    if not plan.conditional_waiver:
        _keep(
            db,
            plan,
            "activation",
            now,
            write_off_charges(case.loan, penalties=plan.waived_penalties, fees=plan.waived_fees),
        )
    if plan.kind in ("restructure", "settlement"):
        # Both deal with the whole balance: the contract's interest still to come is not
        # owed (a restructure charges its own instead; a settlement closes the loan).
        _keep(db, plan, "activation", now, write_off_future_interest(case.loan, today))
    record_event(db, case, "plan_activated", "system", at=now, plan_id=plan.id)


def _keep(db: Session, plan: Plan, earned_by: str, now: datetime, waivers: list[Waiver]) -> None:
    """Remember what the plan wrote off and why, so it can be taken back exactly."""
    for waiver in waivers:
        waiver.plan_id, waiver.earned_by, waiver.granted_at = plan.id, earned_by, now
        db.add(waiver)


def _reinstate(db: Session, case: Case, plan: Plan, earned_by: str, now: datetime) -> None:
    """The payment that earned these waivers was taken back: so are they."""
    waivers = db.scalars(
        select(Waiver).where(
            Waiver.plan_id == plan.id,
            Waiver.earned_by == earned_by,
            Waiver.reinstated_at.is_(None),
        )
    ).all()
    reinstate(case.loan, waivers)
    for waiver in waivers:
        waiver.reinstated_at = now
    if waivers:
        record_event(
            db,
            case,
            "waivers_reinstated",
            "system",
            at=now,
            plan_id=plan.id,
            amount=sum(w.amount for w in waivers),
        )


def _allocate_to_plan(plan: Plan, amount: int) -> None:
    """Pay the plan's installments oldest first."""
    for installment in plan.installments:
        due = installment.outstanding
        if amount <= 0:
            break
        if due > 0:
            paid = min(due, amount)
            installment.paid += paid
            amount -= paid


def _take_back(db: Session, event: GatewayEvent, now: datetime) -> None:
    """A refund or a dispute: reverse the payment's allocations by what is newly taken
    back (or apply again what a won dispute returns), and let its plan feel it."""
    reference = event.reference
    found = db.scalars(select(Payment.id).where(Payment.gateway_reference == reference)).first()
    if found is None:
        log.warning("gateway event %s names no payment we know", event.event_id)
        return
    lock_row(db, Payment, found)
    db.expire_all()
    payment = db.get(Payment, found)
    assert payment is not None  # just locked  # noqa: S101
    if payment.status in (*OPEN_PAYMENT_STATUSES, PaymentStatus.VOIDED):
        # It may yet succeed (a voided checkout can still be paid from an old tab).
        raise TooEarlyError(f"{event.outcome} before payment {payment.id} succeeded")
    if payment.status != PaymentStatus.SUCCEEDED:
        log.warning("%s for payment %s, which never succeeded", event.outcome, payment.id)
        return
    case = db.get(Case, payment.case_id, with_for_update=True)
    assert case is not None  # a payment always belongs to a case  # noqa: S101
    before = payment.kept
    if event.outcome is Outcome.REFUNDED:
        payment.refunded = min(max(event.amount, payment.refunded), payment.amount)
        # Nothing can be both refunded and held by a dispute: never more than was paid.
        payment.disputed = min(payment.disputed, payment.amount - payment.refunded)
    else:
        payment.disputed = min(max(event.amount, 0), payment.amount - payment.refunded)
    change = payment.kept - before
    kind = "payment_refunded" if event.outcome is Outcome.REFUNDED else "payment_disputed"
    record_event(db, case, kind, "system", at=now, payment_id=payment.id, kept=payment.kept)
    today = borrower_today(case.loan.borrower.timezone, now)
    plan = db.get(Plan, payment.plan_id, with_for_update=True) if payment.plan_id else None
    cause = AllocationCause.REFUND if event.outcome is Outcome.REFUNDED else AllocationCause.DISPUTE
    if change < 0:
        db.add_all(_reversals(db, payment, -change, cause, now))
        if plan is not None:
            _unpay_plan(db, case, plan, -change, now)
    elif change > 0:
        # A dispute won: the money is ours again, and goes where new money goes.
        if plan is not None and plan.status in LIVE_PLAN_STATUSES:
            shares = _pay_plan(db, case, plan, change, now, today)
        else:
            shares = apply_to_loan(case.loan, change, today)
        _record(db, case, payment, shares, now, AllocationCause.DISPUTE)


def _reversals(
    db: Session, payment: Payment, amount: int, cause: AllocationCause, now: datetime
) -> list[Allocation]:
    """Negative allocations undoing ``amount`` of the payment, with the loan's paid
    figures reduced to match, booked now for ``cause`` (the journals' day and account)."""
    net: dict[tuple[str, int | None, int | None], int] = {}
    for share in db.scalars(select(Allocation).where(Allocation.payment_id == payment.id)):
        key = (share.target, share.charge_id, share.installment_id)
        net[key] = net.get(key, 0) + share.amount
    # The waterfall's order, reversed: what was paid last is taken back first.
    last_first = {target: rank for rank, target in enumerate(("credit", *reversed(waterfall())))}
    ordered = sorted(
        (item for item in net.items() if item[1] > 0),
        key=lambda item: (last_first[item[0][0]], -(item[0][2] or item[0][1] or 0)),
    )
    reversals = []
    for (target, charge_id, installment_id), held in ordered:
        if amount == 0:
            break
        taken = min(held, amount)
        amount -= taken
        _unpay(db, target, charge_id, installment_id, taken)
        reversals.append(
            Allocation(
                payment_id=payment.id,
                target=target,
                charge_id=charge_id,
                installment_id=installment_id,
                amount=-taken,
                booked_at=now,
                cause=cause,
            )
        )
    return reversals


def _unpay(
    db: Session, target: str, charge_id: int | None, installment_id: int | None, share: int
) -> None:
    if charge_id is not None:
        charge = db.get(LoanCharge, charge_id)
        if charge is not None:
            charge.paid -= share
    elif installment_id is not None:
        installment = db.get(LoanInstallment, installment_id)
        if installment is not None and target == "interest":
            installment.interest_paid -= share
        elif installment is not None:
            installment.principal_paid -= share


def _unpay_plan(db: Session, case: Case, plan: Plan, amount: int, now: datetime) -> None:
    """Take money back off the plan, latest installment first. A plan whose first
    installment is no longer paid is no longer arranged: the de-escalation is undone."""
    for installment in reversed(plan.installments):
        share = min(installment.paid, amount)
        installment.paid -= share
        amount -= share
    if plan.status not in (PlanStatus.ACTIVE, PlanStatus.COMPLETED):
        return
    if plan.installments[0].outstanding > 0:
        if plan.status == PlanStatus.COMPLETED:
            _reinstate(db, case, plan, "completion", now)
        plan.status = PlanStatus.PENDING
        case.status = CaseStatus.OPEN
        _reinstate(db, case, plan, "activation", now)
        record_event(db, case, "plan_deactivated", "system", at=now, plan_id=plan.id)
    elif plan.status == PlanStatus.COMPLETED:
        plan.status = PlanStatus.ACTIVE
        case.status = CaseStatus.ARRANGED
        _reinstate(db, case, plan, "completion", now)
        record_event(db, case, "plan_reopened", "system", at=now, plan_id=plan.id)


def _record(
    db: Session,
    case: Case,
    payment: Payment,
    shares: list[Allocation],
    now: datetime,
    cause: AllocationCause = AllocationCause.PAYMENT,
) -> None:
    """Keep where every part of the payment went, booked now for ``cause`` (a payment's
    success, or what a won dispute returns); a credit is also told to the case."""
    for share in shares:
        share.payment_id = payment.id
        share.booked_at, share.cause = now, cause
        db.add(share)
        if share.target == "credit":
            record_event(db, case, "credit", "system", at=now, amount=share.amount)
