"""The demo's contact-strategy past: what ``haohuan strategy run`` would have done had it
run every morning for the last ``HISTORY_DAYS`` days, so the strategy page, the outbox and
``haohuan strategy results`` mean something on a fresh demo.

For every open overdue case, each overdue step of the strategy in force that fell due
before today (day 1, 3, 10 and 20 past due: the message steps; the day-5 call and the mid
letter are people's work and are left out) is planned as the planner plans it, on the day
it was due, by the version the file is recorded as (``versions.in_force``):

* the step's conditions judged with the case's facts *as they were that day* (its stage
  then, a plan accepted or a promise made before, a link opened within the step's days)
  by ``negotiation.strategy.mismatch``; a hold placed or an opt-out recorded before the
  moment skips the channel as the contact rules would; the contact rules themselves
  (hours, holidays, the caps of 2 messages a day and 7 a week, the US validation notice)
  are the real ``ContactBook``'s, each planned message counted toward the next;
* each message sent at its moment (10:00 where the borrower lives, or the first moment
  the rules allowed), with its contact attempt, in the borrower's language: the real SMS
  words, and for an email the real subject over a short body (greeting, the SMS's words,
  the link, the footer); links are written as ``[link]``, as the sender redacts them
  for a provider that is not the outbox: no past token is kept anywhere;
* the case's arm of each experiment recorded at its first eligible step (``arm_for``),
  with what the case owes;
* a ``StrategyRun`` for each past day, with that day's counts.

Today is left alone: the tester's ``haohuan strategy run`` plans it, and a second run
plans nothing.

**Outcomes are simulated.** Of the cases whose experiment step sent a message, a share
``OPENED`` per arm (30% champion, 36% challenger) open a reminder link within three days:
a link row at the message's moment, holding only a hash, and a successful verification.
The share is spread systematically over each arm's cases from a random start (the
history's own seed), so it is the arm's rate to within a case; the results then have
matured figures with a modest difference. Nothing here is evidence about borrowers.

Beside the past, ``seed_breaking_plans`` (before the day's work) and ``seed_today``
(after the floor) add a few events on the demo's today for the steps on plans, promises
and offers, which the floor has none of; ``link_no_plan`` falls out of the openings.

Bulk INSERTs, a fixed number of statements whatever the size of the book; commits once.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from negotiation.contact import Channel, ContactRefusal
from negotiation.jurisdiction import country_of
from negotiation.strategy import (
    CaseFacts,
    Event,
    Experiment,
    Step,
    StepChannel,
    Strategy,
    arm_for,
    mismatch,
    planned_moment,
    steps_for,
)
from portal.cases.facts import policy
from portal.cases.queue import arrears_of
from portal.contact.gate import ContactBook
from portal.contact.promises import make_promise
from portal.core import settings
from portal.core.hashing import new_token, token_hash
from portal.core.i18n import DEFAULT, LOCALES, for_market, lender, market_of
from portal.demo import seed
from portal.messaging.compose import email_footer, link_note
from portal.messaging.links import opt_out_token, opt_out_url, reminder_url
from portal.messaging.purposes import StaleMessageError, compose_purpose
from portal.messaging.service import REDACTED
from portal.models import (
    Borrower,
    Case,
    CaseHold,
    CaseStatus,
    ContactAttempt,
    ExperimentAssignment,
    Loan,
    Message,
    MessageStatus,
    Offer,
    OfferStatus,
    OptOut,
    Payment,
    Plan,
    PlannedStatus,
    PlannedStep,
    Promise,
    PromiseStatus,
    ReminderLink,
    StaffMember,
    StrategyRun,
    VerificationAttempt,
)
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.payments.service import open_payment
from portal.strategy import file_document, versions
from portal.strategy.planner import GATE_CHANNELS, MESSAGE_CHANNELS, SYSTEM, RunSummary

# How far back the strategy's past goes.
HISTORY_DAYS = 60
# When each past morning's run finished, the lender's local time (after the daily work).
RUN_AT = time(8, 30)
# The simulated share of cases opening a link within 3 days of their experiment step, per
# arm (an arm not named: the champion's). A modest difference, as a real test might find.
OPENED = {"champion": 0.30, "plan-first": 0.36}
# The history's own generator seed: the book's and the named borrowers' draws stay as
# they were.
HISTORY_SEED = 20261214
# Rows per INSERT statement (SQLite binds at most 32,766 parameters in one statement).
CHUNK = 1_000
# The address hash of a demo verification (no request made it).
DEMO_ADDRESS = hashlib.sha256(b"demo").hexdigest()


@dataclass
class History:
    """What ``seed_history`` wrote."""

    runs: int = 0
    planned: int = 0
    skipped: int = 0
    messages: int = 0
    assignments: int = 0
    opened: int = 0
    by_arm: Counter[str] = field(default_factory=Counter)


@dataclass
class _Past:
    """One case as the history reads it: what it is now, and when things happened."""

    case_id: int
    overdue_since: date
    borrower_id: int
    loan_id: int
    currency: str
    market: str
    zone: str
    locale: str
    name: str
    phone: str
    email: str
    hold_from: datetime | None = None
    plan_from: datetime | None = None
    promises: list[tuple[datetime, date | None]] = field(default_factory=list)
    opted: dict[Channel, datetime] = field(default_factory=dict)
    opened_at: datetime | None = None


def seed_history(db: Session, today: date, now: datetime, zone: ZoneInfo | None = None) -> History:
    """Write the strategy's last ``HISTORY_DAYS`` mornings (see the module docstring).
    Commits once. Writes nothing when the strategy has run already."""
    history = History()
    if db.scalar(select(func.count(StrategyRun.id))):
        return history
    zone = zone or settings.current().lender_zone
    first_day = today - timedelta(days=HISTORY_DAYS)
    in_force = versions.in_force(db, file_document(), _run_moment(first_day, zone))
    strategy = in_force.strategy
    steps = [
        step
        for step in strategy.all_steps()
        if step.event is Event.OVERDUE and any(not c.is_task for c in step.channels)
    ]
    reach = max((step.days for step in steps), default=0)
    cases = _read(db, first_day - timedelta(days=reach), now)
    book = _book(db, list(cases), _run_moment(first_day, zone), now)
    writer = _Writer(db, in_force.version, now, zone)
    rng = random.Random(HISTORY_SEED)  # noqa: S311 (demo data, not secrets)
    opens = _Openings(rng)
    owed = _owed(db, [case.loan_id for case in cases.values()], now)
    rules = policy()
    for case in cases.values():
        arms = {e.name: arm_for(e, case.case_id).name for e in strategy.experiments}
        chosen = steps_for(strategy, arms)
        for step, tag in sorted(
            (chosen[s.name] for s in steps if s.name in chosen), key=lambda pair: pair[0].days
        ):
            day = case.overdue_since + timedelta(days=step.days)
            if not first_day <= day < today:
                continue
            run_at = _run_moment(day, zone)
            facts = CaseFacts(
                stage=rules.stage_for(step.days),
                market=case.market,
                currency=case.currency,
                arrears=owed.get(case.loan_id, 0),
                has_plan=case.plan_from is not None and case.plan_from <= run_at,
                has_open_promise=any(
                    made <= run_at and (settled is None or settled >= day)
                    for made, settled in case.promises
                ),
                last_opened=(
                    case.opened_at.astimezone(ZoneInfo(case.zone)).date()
                    if case.opened_at is not None and case.opened_at <= run_at
                    else None
                ),
            )
            skip = mismatch(step, facts, day)
            experiment = _experiment_of(strategy, step, tag)
            if skip is not None:
                writer.step(case, step, tag, day, run_at, PlannedStatus.SKIPPED, reason=skip)
                continue
            if experiment is not None:
                arm = arms[experiment.name]
                writer.assign(experiment, arm, case, day, run_at, facts.arrears)
            planned = _judge(book, case, step, day, run_at)
            if isinstance(planned, str):
                writer.step(case, step, tag, day, run_at, PlannedStatus.SKIPPED, reason=planned)
                continue
            channel, moment, status = planned
            link = None
            if experiment is not None and moment < now and opens.next(arms[experiment.name]):
                opened = moment + timedelta(minutes=rng.randint(20, 70 * 60))
                if opened < now:
                    link = writer.opening(case, moment, opened)
                    case.opened_at = opened
            writer.message(case, step, tag, day, run_at, channel, moment, status, link)
    writer.flush(db, first_day, today, zone, history)
    db.commit()
    return history


class _Openings:
    """Which cases of an arm open their link: systematic sampling from a random start,
    so each arm's share is its ``OPENED`` rate to within one case (independent draws
    would leave a 219-case arm's rate to chance by several points, and the demo's arms
    as likely in the wrong order as not)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: Counter[str] = Counter()
        self.start: dict[str, float] = {}

    def next(self, arm: str) -> bool:
        """Whether the arm's next case opens its link."""
        share = OPENED.get(arm, OPENED["champion"])
        start = self.start.setdefault(arm, self.rng.random())
        seen = self.seen[arm]
        self.seen[arm] += 1
        return int((seen + 1) * share + start) > int(seen * share + start)


# Today's other events ------------------------------------------------------------------------
# The default strategy's steps on plans, promises, offers and links need such events on
# the demo's today; the floor (``book.seed_floor``) has none that fall on it. A few are
# added, as the portal's services record them, on book cases nothing else touched.
EACH = 3
# A plan accepted this many days ago, whose first two payments went unpaid: today's
# daily work finds the second miss and breaks it (``plan_broken``).
BREAKING_AGE = 40


def _untouched(db: Session, first: int, today: date, low: int, high: int) -> list[Case]:
    """Open book cases ``low`` to ``high`` days overdue, outside the US (whose SMS wait
    for the validation notice), reachable by SMS and email, with no hold, plan, promise,
    offer or opt-out, in a stable shuffled order."""
    book_case = (
        select(Case)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(
            Borrower.reference > f"B-{first:05d}",
            ~Borrower.jurisdiction.like("US%"),
            Borrower.email.is_not(None),
            Case.status == CaseStatus.OPEN,
            Case.hold.is_(None),
            Case.overdue_since.between(today - timedelta(days=high), today - timedelta(days=low)),
            ~select(Plan.id).where(Plan.case_id == Case.id).exists(),
            ~select(Promise.id).where(Promise.case_id == Case.id).exists(),
            ~select(Offer.id).where(Offer.case_id == Case.id).exists(),
            ~select(OptOut.id).where(OptOut.borrower_id == Borrower.id).exists(),
        )
        .order_by(Case.id)
    )
    found = list(db.scalars(book_case))
    random.Random(HISTORY_SEED + low).shuffle(found)  # noqa: S311 (demo data)
    return found


def seed_breaking_plans(db: Session, first: int, today: date, now: datetime) -> int:
    """Before the day's work: plans accepted ``BREAKING_AGE`` days ago on a few book cases,
    their first payment made and none since, which the daily work breaks today. Commits
    (once per plan and payment, as those services do). Returns how many."""
    accepted = 0
    then, moment = today - timedelta(days=BREAKING_AGE), now - timedelta(days=BREAKING_AGE)
    for case in _untouched(db, first, today, 60, 90)[:EACH]:
        plan = seed.accept_arrears_plan(db, case, then, moment)
        # The first payment made (the plan in force), none after it.
        open_payment(db, case, "installment", None, then, moment)
        reference = db.scalars(
            select(Payment.gateway_reference).where(Payment.plan_id == plan.id)
        ).first()
        if reference:
            event = GatewayEvent("sandbox", f"evt_breaking_{case.id}", reference, Outcome.SUCCEEDED)
            handle(db, event, moment + timedelta(hours=1))
        accepted += 1
    return accepted


def seed_missing_plans(db: Session, first: int, today: date, now: datetime) -> int:
    """Before the day's work: plans whose first payment was made and whose second went
    unpaid through its grace days until yesterday, on a few book cases: today's daily
    work finds the one miss (the strategy's ``plan_missed`` step) and the plan goes on.
    Commits. Returns how many."""
    grace = policy().grace_days
    second_due = today - timedelta(days=grace + 1)
    made = 0
    for case in _untouched(db, first, today, 60, 90)[EACH : 2 * EACH]:
        # The demo's proposals are weekly plans.
        first_due = second_due - timedelta(days=7)
        moment = datetime.combine(first_due, now.timetz())
        plan = seed.accept_arrears_plan(db, case, first_due, moment, first_due=first_due)
        open_payment(db, case, "installment", None, first_due, moment)
        reference = db.scalars(
            select(Payment.gateway_reference).where(Payment.plan_id == plan.id)
        ).first()
        if reference:
            event = GatewayEvent("sandbox", f"evt_missing_{case.id}", reference, Outcome.SUCCEEDED)
            handle(db, event, moment + timedelta(hours=1))
        made += 1
    return made


@dataclass
class Today:
    """The events ``seed_today`` added for the strategy's own steps, case ids by kind."""

    promise_due_tomorrow: list[int] = field(default_factory=list)
    promise_broken_today: list[int] = field(default_factory=list)
    offer_two_days_old: list[int] = field(default_factory=list)
    plan_due_in_three_days: list[int] = field(default_factory=list)


def seed_today(
    db: Session, first: int, today: date, now: datetime, agents: Sequence[StaffMember]
) -> Today:
    """After the floor: promises due tomorrow and one broken yesterday (found broken by
    today's work), agents' offers made two days ago and not opened, plans whose next
    payment is due in three days. Commits."""
    added = Today()
    if not agents:
        return added
    cases = _untouched(db, first, today, 8, 50)[: 4 * EACH]
    owed = _owed(db, [case.loan_id for case in cases], now)
    zone = settings.current().lender_zone
    for number, case in enumerate(cases[: 2 * EACH]):
        agent = agents[number % len(agents)]
        broken = number >= EACH
        made = now - timedelta(days=8 if broken else 2, hours=number)
        attempt = ContactAttempt(
            case_id=case.id,
            borrower_id=case.loan.borrower_id,
            channel=Channel.CALL.value,
            at=made,
            connected=True,
            agent=agent.email,
            outcome="promise",
        )
        db.add(attempt)
        db.flush()
        case.last_contact_at = max(case.last_contact_at or made, made)
        due = today - timedelta(days=1) if broken else today + timedelta(days=1)
        amount = max(owed.get(case.loan_id, 0), 1)
        promise = make_promise(db, case, attempt.id, agent.email, made, due, amount)
        if broken:
            # As today's work decided it: nothing paid by the date.
            promise.status, promise.settled_on = PromiseStatus.BROKEN, today
            added.promise_broken_today.append(case.id)
        else:
            added.promise_due_tomorrow.append(case.id)
    made_at = datetime.combine(today - timedelta(days=2), time(15, 0), tzinfo=zone)
    for number, case in enumerate(cases[2 * EACH : 3 * EACH]):
        db.add(
            Offer(
                case_id=case.id,
                status=OfferStatus.READY,
                terms={
                    "kind": "arrears_plan",
                    "installments": 6,
                    "frequency": "monthly",
                    "first_due_date": (today + timedelta(days=5)).isoformat(),
                    "penalty_waiver_pct": "50",
                },
                created_by=agents[number % len(agents)].email,
                created_at=made_at.astimezone(UTC),
                expires_at=(made_at + timedelta(days=7)).astimezone(UTC),
            )
        )
        added.offer_two_days_old.append(case.id)
    db.commit()
    for case in cases[3 * EACH :]:
        seed.accept_arrears_plan(
            db, case, today, now - timedelta(hours=20), today + timedelta(days=3)
        )
        added.plan_due_in_three_days.append(case.id)
    return added


def _run_moment(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, RUN_AT, tzinfo=zone).astimezone(UTC)


def _experiment_of(strategy: Strategy, step: Step, tag: str | None) -> Experiment | None:
    if tag is None:
        return None
    name = tag.partition(":")[0]
    return next((e for e in strategy.experiments if e.name == name and e.touches(step.name)), None)


def _read(db: Session, since: date, now: datetime) -> dict[int, _Past]:
    """The open overdue cases whose steps may fall in the history, with their plans,
    promises, holds and opt-outs (a few statements)."""
    rows = db.execute(
        select(
            Case.id,
            Case.overdue_since,
            Borrower.id,
            Loan.id,
            Loan.currency,
            Borrower.jurisdiction,
            Borrower.timezone,
            Borrower.locale,
            Borrower.full_name,
            Borrower.phone,
            Borrower.email,
        )
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(
            Case.status != CaseStatus.RESOLVED,
            Case.overdue_since.is_not(None),
            Case.overdue_since >= since,
        )
        .order_by(Case.id)
    ).all()
    cases: dict[int, _Past] = {}
    for row in rows:
        (case_id, overdue, borrower_id, loan_id, currency, place, zone, locale, name) = row[:9]
        phone, email = (row[9] or "").strip(), (row[10] or "").strip()
        if overdue is None:  # not selected: the query asks for overdue cases
            continue
        cases[case_id] = _Past(
            case_id, overdue, borrower_id, loan_id, currency, country_of(place), zone, locale,
            name, phone, email,
        )  # fmt: skip
    wanted = list(cases)
    for case_id, placed in db.execute(
        select(CaseHold.case_id, func.min(CaseHold.placed_at))
        .where(CaseHold.case_id.in_(wanted), CaseHold.ended_at.is_(None))
        .group_by(CaseHold.case_id)
    ):
        cases[case_id].hold_from = _utc(placed)
    for case_id, accepted in db.execute(
        select(Plan.case_id, func.min(Plan.accepted_at))
        .where(Plan.case_id.in_(wanted))
        .group_by(Plan.case_id)
    ):
        cases[case_id].plan_from = _utc(accepted)
    for case_id, made, status, settled in db.execute(
        select(Promise.case_id, Promise.made_at, Promise.status, Promise.settled_on).where(
            Promise.case_id.in_(wanted), Promise.status != PromiseStatus.SUPERSEDED
        )
    ):
        open_until = None if status == PromiseStatus.OPEN else settled
        cases[case_id].promises.append((_utc(made), open_until))
    by_borrower = {case.borrower_id: case for case in cases.values()}
    for borrower_id, channel, at in db.execute(
        select(OptOut.borrower_id, OptOut.channel, OptOut.at).where(
            OptOut.borrower_id.in_(list(by_borrower)), OptOut.lifted_at.is_(None)
        )
    ):
        by_borrower[borrower_id].opted[Channel(channel)] = _utc(at)
    return cases


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _owed(db: Session, loan_ids: Sequence[int], now: datetime) -> dict[int, int]:
    """What each loan owes now (the planner's own reading of arrears)."""
    if not loan_ids:
        return {}
    arrears = arrears_of(now, list(loan_ids))
    return {
        int(loan_id): int(amount or 0)
        for loan_id, amount in db.execute(
            arrears.joined(select(Loan.id, arrears.amount)).where(Loan.id.in_(list(loan_ids)))
        )
    }


def _book(db: Session, case_ids: list[int], first: datetime, last: datetime) -> ContactBook:
    """The contact rules' book for the whole history, read once, with holds and opt-outs
    left to ``_judge`` (they are judged by when they were recorded, not as they are now)."""
    book = ContactBook.read(db, case_ids, first, last)
    cleared: dict[int, tuple[str | None, int, str, str, str]] = {
        case_id: (None, borrower_id, zone, jurisdiction, currency)
        for case_id, (_hold, borrower_id, zone, jurisdiction, currency) in book.cases.items()
    }
    return ContactBook(cleared, {}, book.quiet, book.attempts, book.noticed)


def _judge(
    book: ContactBook, case: _Past, step: Step, day: date, run_at: datetime
) -> tuple[StepChannel, datetime, PlannedStatus] | str:
    """The planner's channel choice (``_Planner._judge``) at a past moment: the first of
    the step's channels the borrower could be reached on then; else the reason."""
    moment = planned_moment(step, day, case.zone, run_at)
    first_reason: str | None = None
    for channel in step.channels:
        if channel not in MESSAGE_CHANNELS:
            continue
        address = case.phone if channel is StepChannel.SMS else case.email
        if not address:
            first_reason = first_reason or "no_address"
            continue
        opted = case.opted.get(GATE_CHANNELS[channel])
        if opted is not None and opted <= moment:
            first_reason = first_reason or ContactRefusal.OPTED_OUT.value
            continue
        if case.hold_from is not None and case.hold_from <= moment:
            first_reason = first_reason or ContactRefusal.ON_HOLD.value
            continue
        decision = book.decide(case.case_id, GATE_CHANNELS[channel], moment)
        if decision.allowed:
            book.add(case.case_id, MESSAGE_CHANNELS[channel], moment)
            return channel, moment, PlannedStatus.QUEUED
        if decision.allowed_from is not None:
            later = decision.allowed_from.astimezone(UTC)
            book.add(case.case_id, MESSAGE_CHANNELS[channel], later)
            return channel, later, PlannedStatus.DEFERRED
        permanent = [reason.value for reason in decision.reasons if reason.is_permanent]
        first_reason = first_reason or (permanent or [r.value for r in decision.reasons])[0]
    return first_reason or "no_address"


class _Writer:
    """The history's rows, gathered, then written in bulk (ids come back in order)."""

    def __init__(self, db: Session, version: int, now: datetime, zone: ZoneInfo) -> None:
        self.db, self.version, self.now, self.zone = db, version, now, zone
        self.steps: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.links: list[dict[str, Any]] = []
        self.openings: list[dict[str, Any]] = []
        self.assignments: dict[tuple[str, int], dict[str, Any]] = {}
        self.days: dict[date, RunSummary] = {}
        self.words: dict[tuple[str, str, str, str], tuple[str | None, str, str]] = {}

    def _summary(self, day: date) -> RunSummary:
        return self.days.setdefault(day, RunSummary(day, version=self.version))

    def step(
        self,
        case: _Past,
        step: Step,
        tag: str | None,
        day: date,
        run_at: datetime,
        status: PlannedStatus,
        *,
        reason: str | None = None,
        channel: StepChannel | None = None,
        send_at: datetime | None = None,
        message: int | None = None,
    ) -> None:
        """One planned step (``message``: its index among the gathered messages)."""
        self.steps.append(
            {
                "case_id": case.case_id,
                "step": step.name,
                "occurrence": f"od:{case.overdue_since.isoformat()}",
                "as_of": day,
                "version": self.version,
                "variant": tag,
                "channel": channel.value if channel else None,
                "template": step.template.value if channel else None,
                "status": status,
                "reason": reason,
                "message_id": message,
                "callback_id": None,
                "flag_id": None,
                "send_at": send_at,
                "planned_at": run_at,
            }
        )
        summary = self._summary(day)
        if status is PlannedStatus.SKIPPED:
            summary.skipped[reason or "unknown"] += 1
            return
        summary.planned += 1
        summary.by_step[step.name] += 1
        summary.by_channel[channel.value if channel else "none"] += 1
        if tag is not None:
            summary.by_variant[tag] += 1
        if status is PlannedStatus.DEFERRED:
            summary.scheduled_later += 1

    def assign(
        self,
        experiment: Experiment,
        arm: str,
        case: _Past,
        day: date,
        run_at: datetime,
        arrears: int,
    ) -> None:
        """The case's arm, recorded at its first eligible step of the experiment."""
        self.assignments.setdefault(
            (experiment.name, case.case_id),
            {
                "experiment": experiment.name,
                "arm": arm,
                "case_id": case.case_id,
                "version": self.version,
                "assigned_at": run_at,
                "as_of": day,
                "arrears": arrears,
                "currency": case.currency,
            },
        )

    def opening(self, case: _Past, sent: datetime, opened: datetime) -> int:
        """A link sent at ``sent`` and opened at ``opened``: its index among the links."""
        self.links.append(
            {
                "case_id": case.case_id,
                # The hash of a token nobody holds: the link cannot be opened again.
                "token_hash": token_hash(new_token()),
                "purpose": "status",
                "offer_id": None,
                "created_at": sent,
                "expires_at": sent + timedelta(days=7),
                "session_generation": 0,
                "failed_attempts": 0,
            }
        )
        self.openings.append(
            {
                "borrower_id": case.borrower_id,
                "link_id": len(self.links) - 1,
                "address_hash": DEMO_ADDRESS,
                "succeeded": True,
                "at": opened,
            }
        )
        return len(self.links) - 1

    def message(
        self,
        case: _Past,
        step: Step,
        tag: str | None,
        day: date,
        run_at: datetime,
        channel: StepChannel,
        moment: datetime,
        status: PlannedStatus,
        link: int | None,
    ) -> None:
        """A message the step planned: sent at ``moment`` when that is past."""
        sent = moment < self.now
        gate = MESSAGE_CHANNELS[channel]
        subject, body = self._words(case, step, gate) if sent else (None, None)
        self.messages.append(
            {
                "case_id": case.case_id,
                "borrower_id": case.borrower_id,
                "batch_id": None,
                "channel": gate.value,
                "purpose": step.template.value,
                "offer_id": None,
                "link_id": link,
                "address": case.phone if gate is Channel.SMS else case.email,
                "locale": _written_in(case),
                "subject": subject,
                "body": body,
                "status": MessageStatus.SENT if sent else MessageStatus.SCHEDULED,
                "send_at": moment,
                "sent_at": moment if sent else None,
                "provider": "outbox" if sent else None,
                "provider_reference": None,
                "error": None,
                "created_by": SYSTEM,
                "created_at": run_at,
            }
        )
        self.step(
            case, step, tag, day, run_at, status,
            channel=channel, send_at=moment, message=len(self.messages) - 1,
        )  # fmt: skip

    def _words(self, case: _Past, step: Step, channel: Channel) -> tuple[str | None, str]:
        """The message's subject and text in the borrower's language: the template's
        words composed once per language, lender and template, then this borrower's
        name and opt-out link put in."""
        key = (case.locale, case.currency, step.template.value, channel.value)
        if key not in self.words:
            self.words[key] = self._compose(case, step, channel)
        subject, text, sample_token = self.words[key]
        text = text.replace(sample_token, opt_out_token(case.borrower_id, channel))
        return subject, text.replace(NAME_SLOT, case.name)

    def _compose(self, case: _Past, step: Step, channel: Channel) -> tuple[str | None, str, str]:
        row = self.db.get_one(Case, case.case_id)
        # The words are cached with this borrower's opt-out token, replaced for each.
        sample_token = opt_out_token(case.borrower_id, channel)
        sample_opt_out = opt_out_url(case.borrower_id, channel)
        # The link as the sender keeps it for a provider other than the outbox: its
        # token replaced by "[link]" (a past link's token exists nowhere).
        link = reminder_url(LINK_SLOT).replace(LINK_SLOT, REDACTED)
        try:
            sms = compose_purpose(
                self.db, row, step.template.value, Channel.SMS, self.now,
                link=link, opt_out=sample_opt_out,
            )  # fmt: skip
            subject = None
            if channel is Channel.EMAIL:
                subject = compose_purpose(
                    self.db, row, step.template.value, Channel.EMAIL, self.now,
                    link=link, opt_out=sample_opt_out,
                ).subject  # fmt: skip
        except StaleMessageError:
            # The template's fact is gone for this case now (a plan since): the ordinary
            # reminder's words, which are never stale.
            sms = compose_purpose(
                self.db, row, "reminder", Channel.SMS, self.now, link=link, opt_out=sample_opt_out
            )
            subject = None
        if channel is Channel.SMS:
            return None, sms.text, sample_token
        written = _written_in(case)
        with force_locale(written):
            contact = lender(written, market_of(case.currency))
            subject = subject or _("%(lender)s: a reminder about your account", lender=contact.name)
            lines = [
                _("Hello %(name)s,", name=NAME_SLOT),
                "",
                sms.text.splitlines()[0],
                link,
                link_note(),
                "",
                *email_footer(contact, sample_opt_out),
            ]
        return subject, "\n".join(lines) + "\n", sample_token

    def flush(
        self, db: Session, first_day: date, today: date, zone: ZoneInfo, history: History
    ) -> None:
        """Write everything gathered, in bulk, ids carried from rows to the rows naming
        them; and a run for each past day."""
        # Ids read back by the rows' own keys: SQLite answers an INSERT ... RETURNING of
        # many rows one statement per row, which would cost seconds here.
        _insert(db, ReminderLink, self.links)
        by_hash = dict(
            db.execute(
                select(ReminderLink.token_hash, ReminderLink.id).where(
                    ReminderLink.token_hash.in_([link["token_hash"] for link in self.links])
                )
            ).all()
        )
        link_ids = [by_hash[link["token_hash"]] for link in self.links]
        for message in self.messages:
            if message["link_id"] is not None:
                message["link_id"] = link_ids[message["link_id"]]
        for opening in self.openings:
            opening["link_id"] = link_ids[opening["link_id"]]
        _insert(db, Message, self.messages)
        # One message per case and moment: the history plans one step per case a day.
        by_moment = {
            (case_id, _utc(send_at)): message_id
            for message_id, case_id, send_at in db.execute(
                select(Message.id, Message.case_id, Message.send_at).where(
                    Message.created_by == SYSTEM
                )
            )
        }
        message_ids = [
            by_moment[(message["case_id"], message["send_at"])] for message in self.messages
        ]
        for row in self.steps:
            if row["message_id"] is not None:
                row["message_id"] = message_ids[row["message_id"]]
        _insert(db, PlannedStep, self.steps)
        _insert(db, VerificationAttempt, self.openings)
        _insert(
            db,
            ContactAttempt,
            [
                {
                    "case_id": message["case_id"],
                    "borrower_id": message["borrower_id"],
                    "channel": message["channel"],
                    "at": message["sent_at"],
                    "connected": False,
                    "inbound": False,
                    "agent": SYSTEM,
                    "outcome": "sent",
                    "note": None,
                    "message_id": message_id,
                }
                for message, message_id in zip(self.messages, message_ids, strict=True)
                if message["status"] == MessageStatus.SENT
            ],
        )
        _insert(db, ExperimentAssignment, list(self.assignments.values()))
        runs = []
        for offset in range((today - first_day).days):
            day = first_day + timedelta(days=offset)
            summary = self._summary(day)
            started = _run_moment(day, zone) - timedelta(seconds=20)
            runs.append(
                {
                    "as_of": day,
                    "version": self.version,
                    "started_at": started,
                    "finished_at": _run_moment(day, zone),
                    "summary": {**summary.as_json(), "paused": False},
                }
            )
        _insert(db, StrategyRun, runs)
        history.runs = len(runs)
        history.planned = sum(1 for row in self.steps if row["status"] != PlannedStatus.SKIPPED)
        history.skipped = len(self.steps) - history.planned
        history.messages = len(self.messages)
        history.assignments = len(self.assignments)
        history.opened = len(self.openings)
        history.by_arm = Counter(row["arm"] for row in self.assignments.values())


# Where a borrower's name goes in a cached email text.
NAME_SLOT = "\x00name\x00"
# The reminder link's token while the words are composed (URL-safe, replaced at once).
LINK_SLOT = "linktoken"


def _written_in(case: _Past) -> str:
    """The catalog the borrower's messages are written in (``compose.borrower_locale``)."""
    return for_market(case.locale if case.locale in LOCALES else DEFAULT, market_of(case.currency))


def _insert(db: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Bulk INSERT ``rows`` (Core executemany, in chunks: no ORM objects, no RETURNING)."""
    for start in range(0, len(rows), CHUNK):
        db.execute(insert(model.__table__), rows[start : start + CHUNK])
