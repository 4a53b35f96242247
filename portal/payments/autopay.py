"""Automatic plan payments: a borrower's mandate to charge each plan installment to a
saved card on its date, the card itself, and the run that charges them.

Every automatic charge is an ordinary ``Payment`` (``automatic`` set) settled by the one
handler every payment goes through (``events.handle``), so the ledger, reconciliation
and ``ledger check`` cover it unchanged. What keeps a charge single:

- the unique index on open payments (one per case, purpose and plan): a second run, or
  the borrower paying by hand at the same moment, finds the payment open and stops;
- the unique attempt number per installment: two runs cannot both make attempt 2;
- the idempotency key kept with the attempt: an attempt made again after an outage
  sends the same key, so the provider returns the first charge instead of making a
  second; and, as a provider may forget a key after a day (Stripe prunes them once 24
  hours old), an attempt made again first asks the provider for a charge already made
  for its payment.

The provider is never called inside a transaction: the payment and its attempt are
committed first, then the provider is asked, then its answer is committed.

Commits: ``enroll``, ``finish_setup``, ``turn_off`` once each; ``run`` per installment
(twice or three times: the attempt, the provider's answer, the settlement).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from negotiation import AttemptOutcome, MadeAttempt, NextAttempt, attempt_dates, next_attempt
from negotiation.autopay import UNFINISHED
from portal.cases.facts import live_plan, policy, record_event
from portal.cases.overdue import borrower_today
from portal.contact.gate import rules_for
from portal.core import clock, jobs
from portal.core.db import session
from portal.models import (
    LIVE_AUTOPAY_STATUSES,
    LIVE_PLAN_STATUSES,
    OPEN_PAYMENT_STATUSES,
    Autopay,
    AutopayAttempt,
    AutopayEnd,
    AutopayStatus,
    Borrower,
    CardStatus,
    Case,
    Loan,
    Payment,
    PaymentStatus,
    Plan,
    PlanInstallment,
    SavedCard,
)
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.gateway import CardSetup, GatewayUnavailableError, gateway
from portal.payments.service import mark_unknown, move_open

log = logging.getLogger(__name__)

# The version of the mandate's wording the borrower agrees to (``Autopay.terms_version``).
MANDATE_VERSION = "2026-12"

# What the borrower is told, by purpose (``portal.messaging.purposes``): a declined
# charge and when it is tried again; a charge that needs them to confirm it; autopay
# turned off because the card can no longer be used; the last try failed.
NOTICE_RETRY = "autopay_retry"
NOTICE_CONFIRM = "autopay_confirm"
NOTICE_CARD_OFF = "autopay_card_off"
NOTICE_FAILED = "autopay_failed"


@dataclass(frozen=True)
class MandateConsent:
    """How the borrower agreed to the mandate: where from, in which language, and
    exactly what they were shown (hashed)."""

    ip_address: str
    user_agent: str
    locale: str
    shown: str


def shown_hash(text: str) -> str:
    """The hash recorded of what the borrower was shown."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def live_autopay(db: Session, plan_id: int) -> Autopay | None:
    """The plan's autopay waiting for its card or on, if any."""
    return db.scalars(
        select(Autopay).where(Autopay.plan_id == plan_id, Autopay.status.in_(LIVE_AUTOPAY_STATUSES))
    ).first()


def card_ended_autopay(db: Session, plan_id: int) -> AutopayEnd | None:
    """Why the plan's autopay is off, when its last mandate ended because the card could
    no longer be charged (expired, or gone); None otherwise (never on, on, or turned off
    by the borrower or with the plan)."""
    ended = db.scalars(
        select(Autopay.ended_because)
        .where(Autopay.plan_id == plan_id)
        .order_by(Autopay.id.desc())
        .limit(1)
    ).first()
    return ended if ended in (AutopayEnd.CARD_EXPIRED, AutopayEnd.CARD_UNUSABLE) else None


def active_card(db: Session, borrower_id: int) -> SavedCard | None:
    """The borrower's saved card, if they have one that can still be charged."""
    return db.scalars(
        select(SavedCard).where(
            SavedCard.borrower_id == borrower_id, SavedCard.status == CardStatus.ACTIVE
        )
    ).first()


def autopay_attempts(db: Session, plan_id: int) -> list[AutopayAttempt]:
    """Every automatic charge attempted for the plan, oldest first."""
    return list(
        db.scalars(
            select(AutopayAttempt)
            .join(PlanInstallment, PlanInstallment.id == AutopayAttempt.installment_id)
            .where(PlanInstallment.plan_id == plan_id)
            .order_by(AutopayAttempt.id)
        )
    )


def enroll(db: Session, case: Case, consent: MandateConsent, now: datetime) -> Autopay | None:
    """Record the borrower's consent to have the live plan's installments charged
    automatically. On at once with a card already saved, else waiting for the card
    (``begin_setup``). The same live mandate again when there is one. None when the
    case has no live plan. Commits."""
    plan = live_plan(db, case)
    if plan is None:
        return None
    found = live_autopay(db, plan.id)
    if found is not None:
        return found
    card = active_card(db, case.loan.borrower_id)
    autopay = Autopay(
        plan_id=plan.id,
        card_id=card.id if card else None,
        status=AutopayStatus.ON if card else AutopayStatus.PENDING,
        consented_at=now,
        terms_version=MANDATE_VERSION,
        locale=consent.locale,
        shown_hash=shown_hash(consent.shown),
        ip_address=consent.ip_address[:64],
        user_agent=consent.user_agent[:512],
        started_at=now if card else None,
    )
    db.add(autopay)
    try:
        db.flush()
    except IntegrityError:
        # Another tab consented at the same moment: that mandate stands.
        db.rollback()
        return live_autopay(db, plan.id)
    record_event(db, case, "autopay_consented", "borrower", at=now, plan_id=plan.id)
    db.commit()
    return autopay


def customer_of(db: Session, borrower_id: int, provider: str) -> str | None:
    """The borrower's customer at the provider, from any card they ever saved there."""
    return db.scalars(
        select(SavedCard.customer_ref)
        .where(SavedCard.borrower_id == borrower_id, SavedCard.gateway == provider)
        .order_by(SavedCard.id.desc())
    ).first()


def begin_setup(db: Session, case: Case, now: datetime) -> CardSetup:
    """Start saving a card for the borrower at the configured gateway. Raises
    ``GatewayUnavailableError`` when it cannot be reached. Writes nothing."""
    borrower = case.loan.borrower
    provider = gateway()
    key = f"haohuan-card-{borrower.id}-{int(now.timestamp() * 1_000_000)}"
    return provider.begin_card_setup(borrower, customer_of(db, borrower.id, provider.name), key)


def finish_setup(
    db: Session, case: Case, customer_ref: str, reference: str, now: datetime
) -> SavedCard | None:
    """Keep the card a finished setup saved, as the borrower's one active card, and put
    the live plan's waiting autopay on with it (or move it to this card). None when the
    setup did not finish (nothing is changed). Raises ``GatewayUnavailableError``.
    Commits."""
    provider = gateway()
    details = provider.card_from_setup(customer_ref, reference)
    if details is None:
        return None
    borrower_id = case.loan.borrower_id
    existing = db.scalars(
        select(SavedCard).where(
            SavedCard.gateway == provider.name, SavedCard.method_ref == details.method_ref
        )
    ).first()
    if existing is not None:
        # The return page reloaded: the card is saved already.
        return existing if existing.borrower_id == borrower_id else None
    old = active_card(db, borrower_id)
    if old is not None:
        old.status, old.ended_at = CardStatus.REMOVED, now
        db.flush()
    card = SavedCard(
        borrower_id=borrower_id,
        gateway=provider.name,
        customer_ref=details.customer_ref,
        method_ref=details.method_ref,
        brand=details.brand,
        last4=details.last4,
        exp_month=details.exp_month,
        exp_year=details.exp_year,
        status=CardStatus.ACTIVE,
        created_at=now,
    )
    db.add(card)
    db.flush()
    if old is not None:
        # One card serves all the borrower's loans: every mandate on the old card moves.
        db.execute(
            update(Autopay)
            .where(Autopay.card_id == old.id, Autopay.status == AutopayStatus.ON)
            .values(card_id=card.id)
        )
    plan = live_plan(db, case)
    autopay = live_autopay(db, plan.id) if plan is not None else None
    if autopay is not None:
        autopay.card_id = card.id
        if autopay.status is AutopayStatus.PENDING:
            autopay.status, autopay.started_at = AutopayStatus.ON, now
    record_event(db, case, "autopay_card_saved", "borrower", at=now, last4=card.last4)
    db.commit()
    if old is not None:
        _forget(old)
    return card


def turn_off(db: Session, case: Case, now: datetime) -> bool:
    """The borrower turns the live plan's autopay off, at once: no charge not yet started
    is made. The saved card is forgotten too (at the provider as well) unless another of
    their plans is charged to it. True when there was one to turn off. Commits."""
    plan = live_plan(db, case)
    autopay = live_autopay(db, plan.id) if plan is not None else None
    if autopay is None:
        return False
    _end(autopay, now, AutopayEnd.BORROWER)
    card = autopay.card
    forget = card is not None and card.status is CardStatus.ACTIVE and not _in_use(db, card.id)
    if forget and card is not None:
        card.status, card.ended_at = CardStatus.REMOVED, now
    record_event(db, case, "autopay_off", "borrower", at=now, because=AutopayEnd.BORROWER.value)
    db.commit()
    if forget and card is not None:
        _forget(card)
    return True


def _in_use(db: Session, card_id: int) -> bool:
    """True while autopay on another of the borrower's plans still charges the card."""
    return (
        db.scalars(
            select(Autopay.id).where(
                Autopay.card_id == card_id, Autopay.status.in_(LIVE_AUTOPAY_STATUSES)
            )
        ).first()
        is not None
    )


def card_gone(db: Session, provider: str, method_ref: str, now: datetime) -> bool:
    """The provider says a saved card is gone (Stripe's ``payment_method.detached``):
    the card is ended, autopay on it turned off and the borrower told, before a charge
    would have found out. A card already ended (removed by the borrower, replaced) is
    left as it is, so the provider's echo of our own removal changes nothing. True when
    a card was ended. Commits."""
    card = db.scalars(
        select(SavedCard).where(
            SavedCard.gateway == provider,
            SavedCard.method_ref == method_ref,
            SavedCard.status == CardStatus.ACTIVE,
        )
    ).first()
    if card is None:
        return False
    _card_unusable(db, card, CardStatus.DETACHED, now)
    return True


def _end(autopay: Autopay, now: datetime, because: AutopayEnd) -> None:
    autopay.status, autopay.ended_at, autopay.ended_because = AutopayStatus.OFF, now, because


def _forget(card: SavedCard) -> None:
    """Best effort: a card left at the provider is never charged (nothing here points at
    it any more), so an outage here is logged, not fatal."""
    try:
        gateway(card.gateway).forget_card(card)
    except GatewayUnavailableError:
        log.warning("could not remove saved card %s at %s", card.id, card.gateway)


# The run ---------------------------------------------------------------------------------


@dataclass
class RunCounts:
    """What one run did: installments charged, declined, needing the borrower's
    authentication, skipped (an attempt was due but not made: paid by hand already, a
    payment already open, outside the borrower's hours, autopay just turned off);
    ``unreachable``: attempts the provider could not be asked about (made again, with
    the same key, by the next run); ``cards_off``: autopays turned off because the card
    can no longer be charged; the amount charged, per currency."""

    charged: int = 0
    declined: int = 0
    needs_authentication: int = 0
    skipped: int = 0
    unreachable: int = 0
    cards_off: int = 0
    amount_by_currency: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, object]:
        """The run as ``payments autopay --json`` prints it."""
        return {
            "charged": self.charged,
            "declined": self.declined,
            "needs_authentication": self.needs_authentication,
            "skipped": self.skipped,
            "unreachable": self.unreachable,
            "cards_off": self.cards_off,
            "amount_by_currency": dict(sorted(self.amount_by_currency.items())),
        }


class _Due(NamedTuple):
    """One installment of a plan on autopay, in the window it may be charged in. (A
    named tuple: a re-run reads 100,000 of them to find nothing to do, and a frozen
    dataclass's construction was a fifth of that run.)"""

    installment_id: int
    due_date: date
    outstanding: int
    plan_id: int
    case_id: int
    autopay_id: int
    timezone: str
    jurisdiction: str
    currency: str


def run(db: Session, now: datetime, as_of: date | None = None) -> RunCounts:
    """Charge every plan installment on autopay whose attempt falls due on the
    borrower's today (``as_of``, when given, for everyone), inside the borrower's
    allowed contact hours. A re-run charges nothing twice. Commits per installment."""
    counts = RunCounts()
    _end_with_plans(db, now)
    counts.cards_off += _turn_off_expired(db, now, as_of)
    rules = policy()
    grace, retry_days = rules.grace_days, rules.autopay_retry_after_days
    # Every candidate's attempts are read with them. What a concurrent run writes
    # meanwhile is caught where it matters: the attempt's insert (unique per number) and
    # the payment's (one open per plan).
    candidates, made_by = _candidates(db, now, as_of, grace)
    todays: dict[str, date] = {}  # each zone's today, worked out once a run
    for due in candidates:
        today = (
            as_of
            or todays.get(due.timezone)
            or todays.setdefault(due.timezone, borrower_today(due.timezone, now))
        )
        made = made_by.get(due.installment_id, [])
        step = next_attempt(due.due_date, today, made, retry_days, grace)
        if step is None:
            continue
        if due.outstanding <= 0:
            if not step.resume:
                counts.skipped += 1  # paid by hand before its date
            continue
        # A run for a given day (``as_of``: catching up, or a simulated date) stands for
        # that day's run in the borrower's hours; only a run for today checks the clock.
        if as_of is None and not step.resume and not _within_hours(due, now):
            counts.skipped += 1
            continue
        unreachable = counts.unreachable
        _charge(db, due, step, today, now, counts)
        if counts.unreachable > unreachable:
            # Asked again soon by a job, not at the next hourly run: until then the
            # borrower cannot pay the installment by hand.
            jobs.enqueue(resume_job, due.installment_id, 0, delay=RESUME_DELAYS[0])
    return counts


# Waits before an automatic charge the gateway did not answer is made again by a job
# (with Redis; without it, by the next run of ``payments autopay``).
RESUME_DELAYS = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10))


def resume(db: Session, installment_id: int, now: datetime) -> RunCounts:
    """Make the installment's unfinished attempt again (same card, same key), if it
    still has one: what the run would do, for this installment alone. Commits."""
    counts = RunCounts()
    candidates, made_by = _candidates(db, now, None, 0, installment_id)
    for due in candidates:
        made = made_by.get(due.installment_id, [])
        if made and made[-1].outcome in UNFINISHED:
            last = made[-1]
            step = NextAttempt(len(made), last.scheduled_on, resume=True)
            _charge(db, due, step, last.scheduled_on, now, counts)
    return counts


def resume_job(installment_id: int, round_: int = 0) -> None:
    """A job: ``resume`` one installment's unanswered charge; again after a longer wait
    while the gateway still does not answer, then left to the hourly run."""
    counts = resume(session(), installment_id, clock.now())
    if counts.unreachable and round_ + 1 < len(RESUME_DELAYS):
        jobs.enqueue(resume_job, installment_id, round_ + 1, delay=RESUME_DELAYS[round_ + 1])


def _end_with_plans(db: Session, now: datetime) -> None:
    """Autopay ends with its plan (completed, broken, lapsed, withdrawn): one UPDATE over
    the live mandates whose plan is no longer live. Commits."""
    db.execute(
        update(Autopay)
        .where(
            Autopay.status.in_(LIVE_AUTOPAY_STATUSES),
            select(Plan.id)
            .where(Plan.id == Autopay.plan_id, Plan.status.not_in(LIVE_PLAN_STATUSES))
            .exists(),
        )
        .values(status=AutopayStatus.OFF, ended_at=now, ended_because=AutopayEnd.PLAN_ENDED)
    )
    db.commit()


def _turn_off_expired(db: Session, now: datetime, as_of: date | None) -> int:
    """Autopay on a card past its expiry month is turned off, and the borrower told, as
    soon as the month is over everywhere (so they can add a new card before the next
    date), rather than on the day a charge would have failed. The provider is asked
    first: a bank may have renewed the card (Stripe's card updater moves the expiry of a
    saved card), and then it is kept with its new expiry. Returns how many were turned
    off."""
    day = as_of or (now - timedelta(days=1)).date()
    month = day.year * 12 + day.month
    found = db.scalars(
        select(SavedCard).where(
            SavedCard.status == CardStatus.ACTIVE,
            SavedCard.exp_year * 12 + SavedCard.exp_month < month,
            select(Autopay.id)
            .where(Autopay.card_id == SavedCard.id, Autopay.status == AutopayStatus.ON)
            .exists(),
        )
    ).all()
    turned_off = 0
    for card in found:
        unusable = _unusable(db, card, day)
        if unusable is not None:
            turned_off += _card_unusable(db, card, unusable, now)
    return turned_off


def _unusable(db: Session, card: SavedCard, day: date) -> CardStatus | None:
    """Why the card can no longer be charged on ``day`` (expired, or gone at the
    provider), or None when it can: the stored expiry first, then, for a card that looks
    expired, the provider's own record (renewed cards get a new expiry; an unanswered
    question keeps the card for the next run). Commits a renewed expiry."""
    if not card.expired_by(day):
        return None
    try:
        now_known = gateway(card.gateway).refresh_card(card)
    except GatewayUnavailableError:
        return None
    if now_known is None:
        return CardStatus.DETACHED
    card.exp_month, card.exp_year = now_known.exp_month, now_known.exp_year
    db.commit()
    return CardStatus.EXPIRED if card.expired_by(day) else None


def _candidates(
    db: Session, now: datetime, as_of: date | None, grace: int, installment_id: int | None = None
) -> tuple[list[_Due], dict[int, list[MadeAttempt]]]:
    """Installments of live plans on autopay due in the last ``grace`` days or today (a
    day either side of the run's date, for the borrowers' zones), paid or not (a paid
    one due today is counted as skipped), and any with an attempt left unfinished; and
    the attempts made for each, read at once (``_made_of``). With ``installment_id``:
    that installment alone, only while it has an attempt left unfinished."""
    latest = as_of or (now + timedelta(days=1)).date()
    earliest = (as_of or (now - timedelta(days=1)).date()) - timedelta(days=grace)
    unfinished = PlanInstallment.id.in_(
        select(AutopayAttempt.installment_id).where(
            AutopayAttempt.outcome.in_(UNFINISHED),
            AutopayAttempt.autopay_id == Autopay.id,
        )
    )
    due_now = and_(
        Autopay.status == AutopayStatus.ON,
        Plan.status.in_(LIVE_PLAN_STATUSES),
        PlanInstallment.due_date.between(earliest, latest),
    )
    wanted = (
        or_(due_now, unfinished)
        if installment_id is None
        else and_(PlanInstallment.id == installment_id, unfinished)
    )
    query = (
        select(
            PlanInstallment.id,
            PlanInstallment.due_date,
            PlanInstallment.amount - PlanInstallment.paid,
            Plan.id,
            Plan.case_id,
            Autopay.id,
            Borrower.timezone,
            Borrower.jurisdiction,
            Plan.currency,
        )
        .join(Plan, Plan.id == PlanInstallment.plan_id)
        .join(Autopay, Autopay.plan_id == Plan.id)
        .join(Case, Case.id == Plan.case_id)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        # An attempt whose outcome is unknown is finished whenever it is found, autopay
        # on or not: the provider may have taken the money.
        .where(wanted)
    )
    rows = db.execute(query.order_by(PlanInstallment.due_date, PlanInstallment.id)).all()
    if not rows:
        return [], {}
    return [_Due(*row) for row in rows], _made_of(db, query.with_only_columns(PlanInstallment.id))


def _made_of(db: Session, installments: Select[tuple[int]]) -> dict[int, list[MadeAttempt]]:
    """The attempts made for each of the ``installments`` (a query of their ids), by
    installment, each one's in order, in one read: not one query per installment (a
    re-run at 100,000 plans made 100,000 queries to find nothing to do), nor a list of
    their ids sent back (binding 100,000 parameters cost more than the read)."""
    rows = db.execute(
        select(AutopayAttempt.installment_id, AutopayAttempt.scheduled_on, AutopayAttempt.outcome)
        .where(AutopayAttempt.installment_id.in_(installments))
        .order_by(AutopayAttempt.installment_id, AutopayAttempt.number)
    ).all()
    made: dict[int, list[MadeAttempt]] = {}
    for installment_id, day, outcome in rows:
        made.setdefault(installment_id, []).append(MadeAttempt(day, AttemptOutcome(outcome)))
    return made


def _within_hours(due: _Due, now: datetime) -> bool:
    """A charge is made inside the hours the borrower may be contacted (its notice, if
    it fails, goes out at once): the same hours as any message to them."""
    rules = rules_for(due.jurisdiction, due.currency)
    local = now.astimezone(ZoneInfo(due.timezone)).time()
    return rules.allowed_from <= local < rules.allowed_until


def _charge(
    db: Session, due: _Due, step: NextAttempt, today: date, now: datetime, counts: RunCounts
) -> None:
    """Make (or make again) one attempt, and record what it came to. An attempt made
    again was started before anything since (autopay turned off, the card changed): it
    goes to the same card with the same key, so the provider answers what it did the
    first time, or makes the charge the borrower had agreed to when it began."""
    autopay = db.get(Autopay, due.autopay_id)
    case = db.get(Case, due.case_id)
    if autopay is None or case is None:
        return
    if not step.resume:
        card = autopay.card
        if card is None or card.status is not CardStatus.ACTIVE:
            counts.skipped += 1
            return
        unusable = _unusable(db, card, today)
        if unusable is not None:
            counts.cards_off += _card_unusable(db, card, unusable, now)
            return
    attempt = _attempt(db, due, step, autopay, case, now)
    if attempt is None:
        db.rollback()
        counts.skipped += 1
        return
    if step.resume and attempt.outcome not in UNFINISHED:
        return  # finished meanwhile (a job, another run): its outcome stands
    card = db.get(SavedCard, attempt.card_id)
    payment = db.get(Payment, attempt.payment_id) if attempt.payment_id else None
    if card is None or payment is None or payment.status not in OPEN_PAYMENT_STATUSES:
        _close_resumed(db, attempt, payment, now)
        return
    try:
        charged = gateway(payment.gateway).charge_saved(
            payment, card, attempt.key, resume=step.resume
        )
    except GatewayUnavailableError:
        attempt.outcome = AttemptOutcome.UNKNOWN
        mark_unknown(db, payment)  # commits the attempt's outcome with it
        counts.unreachable += 1
        return
    _record(
        db,
        case,
        card,
        attempt,
        payment,
        charged.outcome,
        charged.reference,
        charged.code,
        now,
        counts,
    )


def _attempt(
    db: Session, due: _Due, step: NextAttempt, autopay: Autopay, case: Case, now: datetime
) -> AutopayAttempt | None:
    """The attempt to make: the unfinished one again, or a new one with its payment,
    committed before the provider is asked. None when another run or a payment by hand
    got there first."""
    if step.resume:
        return db.scalars(
            select(AutopayAttempt).where(
                AutopayAttempt.installment_id == due.installment_id,
                AutopayAttempt.number == step.number,
            )
        ).first()
    payment = Payment(
        case_id=due.case_id,
        plan_id=due.plan_id,
        purpose="installment",
        amount=due.outstanding,
        currency=due.currency,
        status=PaymentStatus.CREATED,
        gateway=autopay.card.gateway if autopay.card else gateway().name,
        automatic=True,
        created_at=now,
    )
    db.add(payment)
    try:
        db.flush()
    except IntegrityError:
        return None  # a payment for the plan is open already (by hand, or another run)
    # The run read the amount due when it began; the borrower may have paid by hand since
    # (a payment opened and settled while the run worked through the others). Read again
    # now that this payment holds the plan's one open slot: no payment by hand can start
    # from here on, so what is read is what is owed.
    owed = db.scalar(
        select(PlanInstallment.amount - PlanInstallment.paid).where(
            PlanInstallment.id == due.installment_id
        )
    )
    if owed is None or owed <= 0:
        return None
    payment.amount = owed
    attempt = AutopayAttempt(
        autopay_id=autopay.id,
        installment_id=due.installment_id,
        number=step.number,
        scheduled_on=step.scheduled_on,
        outcome=AttemptOutcome.CHARGING,
        payment_id=payment.id,
        card_id=autopay.card_id,
        amount=owed,
        currency=due.currency,
        key=f"haohuan-autopay-{due.installment_id}-{step.number}-{int(now.timestamp())}",
        created_at=now,
    )
    db.add(attempt)
    try:
        db.flush()
    except IntegrityError:
        return None  # another run made this attempt
    record_event(
        db,
        case,
        "payment_started",
        "autopay",
        at=now,
        payment_id=payment.id,
        amount=payment.amount,
        attempt=step.number,
    )
    db.commit()
    return attempt


def _close_resumed(
    db: Session, attempt: AutopayAttempt, payment: Payment | None, now: datetime
) -> None:
    """An unfinished attempt whose payment was settled meanwhile (the webhook, the
    sweeper): the attempt takes the payment's outcome."""
    succeeded = payment is not None and payment.status is PaymentStatus.SUCCEEDED
    attempt.outcome = AttemptOutcome.SUCCEEDED if succeeded else AttemptOutcome.DECLINED
    attempt.finished_at = now
    db.commit()


def _record(
    db: Session,
    case: Case,
    card: SavedCard,
    attempt: AutopayAttempt,
    payment: Payment,
    outcome: AttemptOutcome,
    reference: str | None,
    code: str | None,
    now: datetime,
    counts: RunCounts,
) -> None:
    """The provider's answer: the attempt's outcome, the payment moved (a success
    settled through the one payment handler), and the borrower told of a failure."""
    attempt.outcome, attempt.decline_code = outcome, (code or None)
    attempt.finished_at = None if outcome is AttemptOutcome.CHARGING else now
    values: dict[str, object] = {}
    if reference:
        values["gateway_reference"] = reference
    if outcome is AttemptOutcome.SUCCEEDED or outcome is AttemptOutcome.CHARGING:
        move_open(db, payment.id, PaymentStatus.PENDING, **values)
        db.commit()
        if outcome is AttemptOutcome.SUCCEEDED and reference:
            event = GatewayEvent(
                payment.gateway,
                f"autopay:{reference}:succeeded",
                reference,
                Outcome.SUCCEEDED,
                payment.amount,
                payment.currency,
            )
            handle(db, event, now)
            counts.charged += 1
            counts.amount_by_currency[payment.currency] += payment.amount
        return
    move_open(db, payment.id, PaymentStatus.FAILED, **values)
    record_event(
        db,
        case,
        "payment_failed",
        "autopay",
        at=now,
        payment_id=payment.id,
        outcome=outcome.value,
        code=code or "",
    )
    if outcome is AttemptOutcome.NEEDS_AUTHENTICATION:
        counts.needs_authentication += 1
        _notice(db, case, NOTICE_CONFIRM, now)
    elif outcome is AttemptOutcome.CARD_UNUSABLE:
        # Ended, and autopay with it (none to turn off when the borrower already did).
        counts.cards_off += _card_unusable(db, card, CardStatus.DETACHED, now, commit=False)
    else:
        counts.declined += 1
        last = not _retry_left(db, attempt)
        _notice(db, case, NOTICE_FAILED if last else NOTICE_RETRY, now)
    db.commit()


def _retry_left(db: Session, attempt: AutopayAttempt) -> bool:
    """True when the installment has another attempt scheduled after this one: the
    attempt was for a day before the schedule's last (the grace period's last day)."""
    installment = db.get(PlanInstallment, attempt.installment_id)
    if installment is None:
        return False
    rules = policy()
    days = attempt_dates(installment.due_date, rules.autopay_retry_after_days, rules.grace_days)
    return attempt.scheduled_on < days[-1]


def _card_unusable(
    db: Session, card: SavedCard, status: CardStatus, now: datetime, *, commit: bool = True
) -> int:
    """The card can no longer be charged: it is ended, and autopay on it is turned off
    on every plan of the borrower's that used it (one card serves all their loans), each
    case told (they can save another card, or pay by hand). Returns how many mandates
    were turned off. Commits unless ``commit`` is false."""
    if card.status is CardStatus.ACTIVE:  # one the borrower removed stays removed
        card.status, card.ended_at = status, now
    because = AutopayEnd.CARD_EXPIRED if status is CardStatus.EXPIRED else AutopayEnd.CARD_UNUSABLE
    mandates = db.execute(
        select(Autopay, Plan.case_id)
        .join(Plan, Plan.id == Autopay.plan_id)
        .where(Autopay.card_id == card.id, Autopay.status.in_(LIVE_AUTOPAY_STATUSES))
    ).all()
    for mandate, case_id in mandates:
        case = db.get(Case, case_id)
        _end(mandate, now, because)
        if case is not None:
            record_event(db, case, "autopay_off", "system", at=now, because=because.value)
            _notice(db, case, NOTICE_CARD_OFF, now)
    if commit:
        db.commit()
    return len(mandates)


def _notice(db: Session, case: Case, purpose: str, now: datetime) -> None:
    """Tell the borrower, through the contact rules like every message (it waits for
    their allowed hours, and is never sent on a channel they stopped)."""
    # Imported here: messaging's sender imports the plan agreement, which imports the
    # payment services; the notice is the one thing this module needs of it.
    from portal.messaging.service import queue_notice

    queue_notice(db, case, purpose, now)
