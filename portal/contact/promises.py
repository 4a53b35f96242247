"""Promises to pay: made on a call with the borrower, then tracked against the case's
payments until they are kept, partly kept or broken.

What counts toward a promise: the case's payments in the promise's currency that the
gateway confirmed (status ``succeeded``), net of what was refunded or is held by a
dispute (``Payment.kept``), confirmed from the moment the promise was made up to the
end of its due date in the borrower's own time zone. A payment confirmed after the due
date does not count: the promise was not kept on time, and the case's balance shows
the payment anyway.

A promise is decided by one rule (``_decide``) wherever it is decided: at once, by the
payment that brings what counted up to the amount (``keep_if_paid``, called in the
payment's own transaction by ``portal.payments.events``); otherwise by the daily review
(``review_promises``), which also closes promises whose date has passed; or when a new
promise replaces it. Each reads refunds and disputes as they stand at that moment.
A decision is final: money taken back after a promise was kept does not un-keep it (the
borrower did pay as promised; the refund or dispute is on the case's timeline and its
balance, where the agent sees it), and the review looks only at open promises, so the
two paths agree. Every path that decides a case's promises holds the case's row lock
(a payment's, a call's, and the review's, which locks the cases first, in order), so a
promise is never decided twice.

A case has at most one open promise: a new one supersedes the open one, which is
decided at that moment (``kept`` if already paid in full, else ``superseded`` with what
was paid so far). The windows of a case's promises therefore never overlap, and no
payment counts toward two promises.

Statuses: ``open``; ``kept`` (paid in full, on the day the amount was reached, which
may be before the due date); ``partly_kept`` (something, not all, by the due date);
``broken`` (nothing by the due date); ``superseded``. A partly kept or broken promise
asks for an agent (``Case.needs_agent``) and goes on the case's timeline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.cases.facts import policy, snapshot_of
from portal.cases.flags import raise_flags
from portal.cases.overdue import borrower_today
from portal.models import (
    Borrower,
    Case,
    CaseEvent,
    FlagReason,
    Loan,
    Payment,
    PaymentStatus,
    Promise,
    PromiseStatus,
)

# The payment status that means the gateway confirmed the money.
CONFIRMED = PaymentStatus.SUCCEEDED


@dataclass(frozen=True)
class PromiseLimits:
    """What a promise made now on a case may be: a due date from the borrower's today
    to the policy's longest promise (``max_deferral_days``, "how long a promise to pay
    may run"), and an amount above zero up to everything owed."""

    earliest: date
    latest: date
    most: int
    currency: str

    @property
    def days(self) -> int:
        """How many days ahead a promise may run."""
        return (self.latest - self.earliest).days


class PromiseProblem(StrEnum):
    """Why a promise cannot be recorded as given."""

    PAST = "past"
    TOO_FAR = "too_far"
    NOT_POSITIVE = "not_positive"
    TOO_MUCH = "too_much"


def promise_limits(db: Session, case: Case, moment: datetime) -> PromiseLimits:
    """The bounds of a promise made on ``case`` at ``moment``."""
    borrower = case.loan.borrower
    today = borrower_today(borrower.timezone, moment)
    owed = snapshot_of(db, case, today).outstanding
    return PromiseLimits(
        earliest=today,
        latest=today + timedelta(days=policy().max_deferral_days),
        most=owed,
        currency=case.loan.currency,
    )


def promise_problems(limits: PromiseLimits, due: date, amount: int) -> list[PromiseProblem]:
    """Every reason a promise of ``amount`` by ``due`` is out of bounds (none: fine)."""
    problems: list[PromiseProblem] = []
    if due < limits.earliest:
        problems.append(PromiseProblem.PAST)
    elif due > limits.latest:
        problems.append(PromiseProblem.TOO_FAR)
    if amount <= 0:
        problems.append(PromiseProblem.NOT_POSITIVE)
    elif amount > limits.most:
        problems.append(PromiseProblem.TOO_MUCH)
    return problems


def due_end(due: date, zone: ZoneInfo) -> datetime:
    """The end of the due date where the borrower lives (the next local midnight), UTC."""
    return datetime.combine(due + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Progress:
    """What has counted toward a promise up to some moment, and the borrower's local day
    on which the full amount was reached (None while it is not)."""

    paid: int
    reached_on: date | None


def _payments_of(
    db: Session, case_ids: Iterable[int], since: datetime
) -> dict[int, list[tuple[datetime, int, str]]]:
    """Each case's confirmed payments since ``since``: (confirmed at, kept, currency),
    oldest first."""
    ids = sorted(set(case_ids))
    found: dict[int, list[tuple[datetime, int, str]]] = defaultdict(list)
    if not ids:
        return found
    rows = db.execute(
        select(
            Payment.case_id,
            Payment.confirmed_at,
            Payment.amount - Payment.refunded - Payment.disputed,
            Payment.currency,
        )
        .where(
            Payment.case_id.in_(ids),
            Payment.status == CONFIRMED,
            Payment.confirmed_at.is_not(None),
            Payment.confirmed_at >= since,
        )
        .order_by(Payment.confirmed_at, Payment.id)
    )
    for case_id, confirmed_at, kept, currency in rows:
        # The query keeps confirmed payments only, whose confirmed_at is never NULL.
        found[case_id].append((cast(datetime, confirmed_at), int(kept), currency))
    return found


def _progress(
    promise: Promise,
    payments: Sequence[tuple[datetime, int, str]],
    until: datetime,
    zone: ZoneInfo,
) -> Progress:
    """What counted toward ``promise`` from its making up to (not including) ``until``."""
    made = promise.made_at
    paid, reached_on = 0, None
    for confirmed_at, kept, currency in payments:
        if currency != promise.currency or not made <= confirmed_at < until:
            continue
        paid += kept
        if reached_on is None and paid >= promise.amount:
            reached_on = confirmed_at.astimezone(zone).date()
    if paid < promise.amount:
        reached_on = None  # money taken back since has brought it below the amount
    return Progress(max(paid, 0), reached_on)


def _decide(
    db: Session,
    promise: Promise,
    payments: Sequence[tuple[datetime, int, str]],
    zone: ZoneInfo,
    now: datetime,
    *,
    until: datetime | None = None,
    closing: str | None = None,
    **data: object,
) -> bool:
    """The rule for one open promise: what counted toward it up to ``until`` (never past
    the end of its due date; by default, up to that end) is stored in ``paid``; it is
    kept if that reaches the amount; else ``closing`` says how it ends now: ``BROKEN``
    (its date has passed: partly kept or broken by what was paid) or ``SUPERSEDED``; with
    none it stays open. A decision goes on the case's timeline, at ``now``, with
    ``data``. Returns True when the promise was decided."""
    end = due_end(promise.due_date, zone)
    progress = _progress(promise, payments, end if until is None else min(until, end), zone)
    promise.paid = progress.paid
    if progress.reached_on is not None:
        promise.status, promise.settled_on = PromiseStatus.KEPT, progress.reached_on
    elif closing == PromiseStatus.BROKEN:
        promise.status = PromiseStatus.PARTLY_KEPT if progress.paid > 0 else PromiseStatus.BROKEN
        promise.settled_on = promise.due_date
    elif closing == PromiseStatus.SUPERSEDED:
        promise.status, promise.settled_on = PromiseStatus.SUPERSEDED, now.astimezone(zone).date()
    else:
        return False
    _event(
        db,
        promise.case_id,
        f"promise_{promise.status}",
        now,
        promise_id=promise.id,
        amount=promise.amount,
        paid=promise.paid,
        **data,
    )
    return True


def keep_if_paid(db: Session, case: Case, now: datetime) -> list[Promise]:
    """A payment on ``case`` was just confirmed: its open promise is kept now if what
    counts toward it reaches the amount (the review's rule, decided at once rather than
    by the next daily run). Runs inside the payment's transaction, whose lock on the case
    row keeps the daily review and a new promise from deciding it meanwhile. Does not
    commit. Returns the promises kept."""
    open_ones = db.scalars(
        select(Promise).where(Promise.case_id == case.id, Promise.status == PromiseStatus.OPEN)
    ).all()
    if not open_ones:
        return []
    zone = ZoneInfo(case.loan.borrower.timezone)
    payments = _payments_of(db, [case.id], min(p.made_at for p in open_ones))[case.id]
    return [p for p in open_ones if _decide(db, p, payments, zone, now)]


def progress_of(db: Session, case: Case, promises: Sequence[Promise]) -> dict[int, int]:
    """What has counted so far toward each of ``promises`` of ``case`` (by promise id):
    the stored figure for decided ones, computed afresh for the open one (every payment
    confirmed so far, up to the end of its due date: one confirmed this very instant
    counts too)."""
    zone = ZoneInfo(case.loan.borrower.timezone)
    open_ones = [p for p in promises if p.status == PromiseStatus.OPEN]
    shown = {p.id: p.paid for p in promises}
    if not open_ones:
        return shown
    payments = _payments_of(db, [case.id], min(p.made_at for p in open_ones))[case.id]
    for promise in open_ones:
        until = due_end(promise.due_date, zone)
        shown[promise.id] = _progress(promise, payments, until, zone).paid
    return shown


def _event(db: Session, case_id: int, kind: str, now: datetime, **data: object) -> None:
    # The clock's moment, not the row default's: the daily work runs "as of" a moment.
    db.add(CaseEvent(case_id=case_id, kind=kind, actor="system", at=now, data=data))


def make_promise(
    db: Session,
    case: Case,
    attempt_id: int | None,
    made_by: str,
    moment: datetime,
    due: date,
    amount: int,
) -> Promise:
    """Record the borrower's promise (already within ``promise_limits``), superseding an
    open one, which is decided on what was paid up to now. Does not commit."""
    zone = ZoneInfo(case.loan.borrower.timezone)
    earlier = db.scalars(
        select(Promise).where(Promise.case_id == case.id, Promise.status == PromiseStatus.OPEN)
    ).all()
    if earlier:
        payments = _payments_of(db, [case.id], min(p.made_at for p in earlier))[case.id]
        for old in earlier:
            _decide(db, old, payments, zone, moment, until=moment, closing=PromiseStatus.SUPERSEDED)
    promise = Promise(
        case_id=case.id,
        contact_attempt_id=attempt_id,
        made_by=made_by,
        made_at=moment,
        due_date=due,
        amount=amount,
        currency=case.loan.currency,
        status=PromiseStatus.OPEN,
        paid=0,
    )
    db.add(promise)
    db.flush()
    db.add(
        CaseEvent(
            case_id=case.id,
            kind="promise_made",
            actor="agent",
            at=moment,
            data={
                "promise_id": promise.id,
                "due_date": due.isoformat(),
                "amount": amount,
                "by": made_by,
            },
        )
    )
    return promise


@dataclass
class PromiseReview:
    """What one review decided."""

    kept: int = 0
    partly_kept: int = 0
    broken: int = 0


def review_promises(db: Session, today: date, now: datetime) -> PromiseReview:
    """Decide the open promises: kept as soon as the amount is reached (even before the
    due date); partly kept or broken once the due date has ended where the borrower
    lives (and is before ``today``, the day being worked). Open ones keep their progress
    in ``paid``. Flushes, does not commit: it runs inside the daily work's transaction.

    Four statements whatever the number of promises: the cases with an open promise
    locked (in id order, as a payment or a call locks its one case before deciding a
    promise, so no promise is decided twice and no lock waits in a cycle), the open
    promises with their borrowers' zones, their cases' confirmed payments, then the
    changed rows.
    """
    review = PromiseReview()
    db.execute(
        select(Case.id)
        .where(Case.id.in_(select(Promise.case_id).where(Promise.status == PromiseStatus.OPEN)))
        .order_by(Case.id)
        .with_for_update()
    )
    rows = db.execute(
        select(Promise, Borrower.timezone)
        .join(Case, Case.id == Promise.case_id)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(Promise.status == PromiseStatus.OPEN)
        .order_by(Promise.id)
    ).all()
    if not rows:
        return review
    payments = _payments_of(
        db, (p.case_id for p, _zone in rows), min(p.made_at for p, _zone in rows)
    )
    asking: set[int] = set()
    for promise, timezone in rows:
        zone = ZoneInfo(timezone)
        over = due_end(promise.due_date, zone) <= now and promise.due_date < today
        decided = _decide(
            db,
            promise,
            payments[promise.case_id],
            zone,
            now,
            until=now,
            closing=PromiseStatus.BROKEN if over else None,
            as_of=today.isoformat(),
        )
        if not decided:
            continue
        if promise.status == PromiseStatus.KEPT:
            review.kept += 1
        else:
            asking.add(promise.case_id)
            if promise.status == PromiseStatus.BROKEN:
                review.broken += 1
            else:
                review.partly_kept += 1
    if asking:
        raise_flags(db, asking, FlagReason.PROMISE_BROKEN, now, "system")
    db.flush()
    return review
