"""Planning a day of the contact strategy: ``haohuan strategy run``.

For the day ``as_of`` (the lender's today, after the daily case work), each step of the
strategy in force is planned for every case it is due for:

1. **Candidates**, set-based: one query per step finds the cases whose event falls in
   the step's window (overdue since a date, a plan installment due on one, a promise
   broken...), each with its *occurrence* (the overdue spell, the installment, the
   promise), leaving out what is already planned for that case, step and occurrence.
2. **The arm** of each experiment the step is in: the recorded one, else the stable hash
   (``negotiation.strategy.arm_for``), recorded the first time the case is eligible for
   a step the experiment touches (intention to treat: whether or not a message could go).
3. **Conditions** (``negotiation.strategy.mismatch``): stage, market, amount band, plan,
   open promise, silence since a link was opened. A case that fails one is recorded as
   skipped with the reason.
4. **Channel and contact rules**: the first of the step's channels the borrower can be
   reached on, judged by the contact gate at the step's preferred local time (a
   ``ContactBook`` read once per chunk; each planned message counts toward the
   borrower's caps for the next). Allowed: a message due then (``queued``). Refused for
   a while: scheduled for the first allowed moment (``deferred``). Refused for good on
   every channel (a hold, opt-outs): skipped, with the reason.
5. **Writes**, per chunk of cases in one transaction: the scheduled messages (sent by
   ``haohuan messages send-due``, which judges each again when its time comes and words
   it in the borrower's language then), the call and letter tasks for the case's owner
   (a strategy callback; a "letter due" flag), the planned steps and the arms.

Idempotent: a step is planned once per case and occurrence (the unique key on
``strategy_steps``). On PostgreSQL each chunk takes an advisory lock and re-reads what is
planned under it, so two runs at once plan each step once between them. The first run
plans only its own day; a later one also catches up the days since the last finished run
(up to ``CATCH_UP_DAYS``). ``dry_run`` plans in one transaction and rolls it back.
"""

from __future__ import annotations

import time as clock
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, cast, exists, func, insert, literal, select, text
from sqlalchemy.orm import Session

from negotiation.contact import Channel, ContactDecision
from negotiation.jurisdiction import country_of
from negotiation.policy import Stage
from negotiation.strategy import (
    CATCH_UP_DAYS,
    CaseFacts,
    Event,
    Experiment,
    Step,
    StepChannel,
    Strategy,
    Template,
    arm_for,
    event_window,
    mismatch,
    planned_moment,
    vary,
)
from portal.audit import trail
from portal.cases.facts import policy
from portal.cases.flags import raise_flag
from portal.cases.queue import arrears_of
from portal.contact.callbacks import open_callback, schedule_callback
from portal.contact.gate import ContactBook
from portal.core import settings
from portal.core.clock import as_utc
from portal.messaging.chat import linked_accounts
from portal.models import (
    LIVE_PLAN_STATUSES,
    UNPAID_INSTALLMENT,
    Borrower,
    CallbackSource,
    Case,
    CaseEvent,
    CaseFlag,
    CaseStatus,
    ExperimentAssignment,
    FlagReason,
    Loan,
    LoanInstallment,
    Message,
    MessageStatus,
    Offer,
    OfferStatus,
    Plan,
    PlanInstallment,
    PlannedStatus,
    PlannedStep,
    PlanStatus,
    Promise,
    PromiseStatus,
    ReminderLink,
    StrategyRun,
    VerificationAttempt,
)
from portal.strategy import versions

# Cases per transaction.
CHUNK = 1_000
# The advisory lock two runs share (PostgreSQL): "STRA".
LOCK_KEY = 0x5354_5241
SYSTEM = "strategy"
MESSAGE_CHANNELS = {
    StepChannel.SMS: Channel.SMS,
    StepChannel.EMAIL: Channel.EMAIL,
    StepChannel.LINE: Channel.LINE,
    StepChannel.WECHAT: Channel.WECHAT,
}
GATE_CHANNELS = {
    **MESSAGE_CHANNELS,
    StepChannel.LETTER: Channel.LETTER,
    StepChannel.CALL: Channel.CALL,
}
NO_ADDRESS = "no_address"
ONE_DAY = timedelta(days=1)


@dataclass
class RunSummary:
    """What one run planned: messages and tasks (``planned``) by step, channel and
    variant; what it skipped, by reason; how many wait for a later allowed moment."""

    as_of: date
    version: int = 0
    paused: bool = False
    planned: int = 0
    scheduled_later: int = 0
    by_step: Counter[str] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    by_variant: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """The command's ``--json`` object (its keys are the interface for scripts)."""
        return {
            "planned": self.planned,
            "by_step": dict(sorted(self.by_step.items())),
            "by_channel": dict(sorted(self.by_channel.items())),
            "by_variant": dict(sorted(self.by_variant.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "scheduled_later": self.scheduled_later,
        }


@dataclass(frozen=True)
class Variant:
    """One form of a step: the champion's, or an experiment arm's."""

    step: Step
    experiment: Experiment | None = None
    arm: str | None = None

    @property
    def tag(self) -> str | None:
        """``experiment:arm``, as recorded with each planned step."""
        return f"{self.experiment.name}:{self.arm}" if self.experiment is not None else None


def variants(strategy: Strategy) -> list[Variant]:
    """Every form of every step, in the document's order: a step an experiment varies
    once per arm; a whole challenger strategy's steps under its arm."""
    whole = next((e for e in strategy.experiments if e.whole), None)
    if whole is not None:
        return [
            Variant(step, whole, arm.name)
            for arm in whole.arms
            for step in (arm.steps if arm.steps is not None else strategy.steps)
        ]
    found = []
    for step in strategy.steps:
        experiment = next((e for e in strategy.experiments if e.touches(step.name)), None)
        if experiment is None:
            found.append(Variant(step))
            continue
        found += [
            Variant(vary(step, arm.overrides.get(step.name, {})), experiment, arm.name)
            for arm in experiment.arms
        ]
    return found


def run(
    db: Session,
    file_document: dict[str, Any],
    as_of: date,
    now: datetime,
    *,
    dry_run: bool = False,
    zone: ZoneInfo | None = None,
) -> RunSummary:
    """Plan ``as_of``'s steps for every case (see the module docstring). Commits chunk by
    chunk; with ``dry_run``, plans everything and rolls it back."""
    started = clock.perf_counter()
    in_force = versions.in_force(db, file_document, now)
    summary = RunSummary(as_of, version=in_force.version)
    if versions.is_paused(db):
        summary.paused = True
        _finish(db, summary, now, dry_run, started)
        return summary
    if not dry_run:
        db.commit()  # the file's version, if new: every planned step refers to it
    catch_up = _catch_up(db, as_of)
    planner = _Planner(
        db, in_force.version, as_of, now, summary, dry_run, zone or settings.current().lender_zone
    )
    for variant in variants(in_force.strategy):
        planner.plan(variant, catch_up)
    _finish(db, summary, now, dry_run, started)
    return summary


def _catch_up(db: Session, as_of: date) -> int:
    """Days of events to plan late: none on the first run, else the days since the last
    finished run before ``as_of`` (a re-run of a day plans that day's window again, and
    the unique key leaves out what it planned)."""
    last = db.scalar(select(func.max(StrategyRun.as_of)).where(StrategyRun.as_of < as_of))
    if last is None:
        return 0
    return max(0, min(CATCH_UP_DAYS, (as_of - last).days - 1))


def _finish(db: Session, summary: RunSummary, now: datetime, dry_run: bool, started: float) -> None:
    summary.seconds = round(clock.perf_counter() - started, 3)
    if dry_run:
        db.rollback()
        return
    db.add(
        StrategyRun(
            as_of=summary.as_of,
            version=summary.version,
            started_at=now,
            finished_at=now + timedelta(seconds=summary.seconds),
            summary={**summary.as_json(), "paused": summary.paused},
        )
    )
    trail.record(
        db,
        "system",
        "strategy.run",
        now,
        as_of=summary.as_of.isoformat(),
        version=summary.version,
        paused=summary.paused,
        planned=summary.planned,
        scheduled_later=summary.scheduled_later,
        skipped=sum(summary.skipped.values()),
    )
    db.commit()


# Candidates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A case a step is due for, and the occurrence of its event."""

    case_id: int
    occurrence: str
    offer_id: int | None = None


def candidates(
    db: Session, step: Step, as_of: date, catch_up: int, zone: ZoneInfo
) -> list[Candidate]:
    """The cases ``step`` is due for on ``as_of`` (its event in the window), not yet
    planned for their occurrence."""
    first, last = event_window(step, as_of, catch_up)
    query = _EVENT_QUERIES[step.event](first, last, zone)
    rows = db.execute(query).all()
    if not rows:
        return []
    found = [Candidate(int(row[0]), str(row[1]), row[2] if len(row) > 2 else None) for row in rows]
    return sorted(set(found), key=lambda c: (c.case_id, c.occurrence))


def _bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of the lender's days ``first`` to ``last``."""
    start = datetime.combine(first, time.min, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return start, end


def _key(prefix: str, column: Any) -> Any:
    """An occurrence key built in SQL: ``prefix`` and the column as text."""
    return (literal(prefix) + cast(column, String)).label("occurrence")


def _overdue(first: date, last: date, zone: ZoneInfo) -> Select[Any]:
    return select(Case.id, _key("od:", Case.overdue_since)).where(
        Case.overdue_since.between(first, last), Case.status != CaseStatus.RESOLVED
    )


def _before_due(first: date, last: date, zone: ZoneInfo) -> Select[Any]:
    return (
        select(Case.id, _key("li:", LoanInstallment.id))
        .join(Loan, Loan.id == LoanInstallment.loan_id)
        .join(Case, Case.loan_id == Loan.id)
        .where(
            LoanInstallment.due_date.between(first, last),
            text(f"({UNPAID_INSTALLMENT})"),
            Case.overdue_since.is_(None),
        )
    )


def _plan_due(first: date, last: date, zone: ZoneInfo) -> Select[Any]:
    return (
        select(Plan.case_id, _key("pi:", PlanInstallment.id))
        .join(Plan, Plan.id == PlanInstallment.plan_id)
        .where(
            PlanInstallment.due_date.between(first, last),
            PlanInstallment.paid < PlanInstallment.amount,
            Plan.status.in_(LIVE_PLAN_STATUSES),
        )
    )


def _misses() -> Any:
    later = PlanInstallment.__table__.alias("miss")
    return (
        select(func.count())
        .select_from(later)
        .where(later.c.plan_id == PlanInstallment.plan_id, later.c.missed_on.is_not(None))
        .scalar_subquery()
    )


def _plan_missed(first: date, last: date, zone: ZoneInfo) -> Select[Any]:
    # ``missed_on`` is the last day the borrower was shown ("missed if unpaid on ..."):
    # the daily work finds the miss the day after it, which is the event's day.
    return (
        select(Plan.case_id, _key("pi:", PlanInstallment.id))
        .join(Plan, Plan.id == PlanInstallment.plan_id)
        .where(
            PlanInstallment.missed_on.between(first - ONE_DAY, last - ONE_DAY),
            Plan.status == PlanStatus.ACTIVE,
        )
    )


def _plan_at_risk(first: date, last: date, zone: ZoneInfo) -> Select[Any]:
    # One more miss breaks the plan (the policy's number of misses).
    needed = policy().misses_before_broken
    return _plan_missed(first, last, zone).where(_misses() == needed - 1)


def _events(kind: str, first: date, last: date, zone: ZoneInfo) -> Select[Any]:
    # The daily work writes its events at the run's moment, on the day it works; a
    # day's events are those of the lender's day.
    start, end = _bounds(first, last, zone)
    return select(CaseEvent.case_id, _key("ev:", CaseEvent.id)).where(
        CaseEvent.kind == kind, CaseEvent.at >= start, CaseEvent.at < end
    )


def _stage_entry(first: date, last: date, zone: ZoneInfo) -> Select[Any]:
    return _events("stage_changed", first, last, zone)


def _plan_broken(first: date, last: date, zone: ZoneInfo) -> Select[Any]:
    return _events("plan_broken", first, last, zone)


def _promise_due(first: date, last: date, zone: ZoneInfo) -> Select[Any]:
    return select(Promise.case_id, _key("pr:", Promise.id)).where(
        Promise.due_date.between(first, last), Promise.status == PromiseStatus.OPEN
    )


def _promise_broken(first: date, last: date, zone: ZoneInfo) -> Select[Any]:
    return select(Promise.case_id, _key("pr:", Promise.id)).where(
        Promise.settled_on.between(first, last),
        Promise.status.in_((PromiseStatus.BROKEN, PromiseStatus.PARTLY_KEPT)),
    )


def _opened_since(link_case: Any, since: Any) -> Any:
    """Whether the case's borrower opened (verified) one of its links since ``since``."""
    return exists(
        select(VerificationAttempt.id)
        .join(ReminderLink, ReminderLink.id == VerificationAttempt.link_id)
        .where(
            ReminderLink.case_id == link_case,
            VerificationAttempt.succeeded.is_(True),
            VerificationAttempt.at >= since,
        )
    )


def _offer_unopened(first: date, last: date, zone: ZoneInfo) -> Select[Any]:
    start, end = _bounds(first, last, zone)
    return select(Offer.case_id, _key("of:", Offer.id), Offer.id).where(
        Offer.status == OfferStatus.READY,
        Offer.created_at >= start,
        Offer.created_at < end,
        ~_opened_since(Offer.case_id, Offer.created_at),
    )


def _link_no_plan(first: date, last: date, zone: ZoneInfo) -> Select[Any]:
    start, end = _bounds(first, last, zone)
    opened = (
        select(ReminderLink.case_id, ReminderLink.id, func.max(VerificationAttempt.at).label("at"))
        .join(ReminderLink, ReminderLink.id == VerificationAttempt.link_id)
        .where(
            VerificationAttempt.succeeded.is_(True),
            VerificationAttempt.at >= start,
            VerificationAttempt.at < end,
        )
        .group_by(ReminderLink.case_id, ReminderLink.id)
        .subquery()
    )
    planned = exists(
        select(Plan.id).where(Plan.case_id == opened.c.case_id, Plan.accepted_at >= opened.c.at)
    )
    return select(opened.c.case_id, _key("lk:", opened.c.id)).where(~planned)


_EVENT_QUERIES = {
    Event.OVERDUE: _overdue,
    Event.BEFORE_DUE: _before_due,
    Event.PLAN_DUE: _plan_due,
    Event.PLAN_MISSED: _plan_missed,
    Event.PLAN_AT_RISK: _plan_at_risk,
    Event.STAGE_ENTRY: _stage_entry,
    Event.PLAN_BROKEN: _plan_broken,
    Event.PROMISE_DUE: _promise_due,
    Event.PROMISE_BROKEN: _promise_broken,
    Event.OFFER_UNOPENED: _offer_unopened,
    Event.LINK_NO_PLAN: _link_no_plan,
}


# Facts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Case:
    """What planning reads about one case."""

    facts: CaseFacts
    borrower_id: int
    loan_id: int
    owner_id: int | None
    zone: str
    locale: str
    phone: str
    email: str
    postal: str
    opened_at: datetime | None
    # The chat apps the borrower linked (LINE's userId, WeChat's openid, by channel).
    chat: dict[Channel, str] = field(default_factory=dict)


def _cases(db: Session, case_ids: Sequence[int], now: datetime) -> dict[int, _Case]:
    rows = db.execute(
        select(
            Case.id,
            Case.status,
            Case.stage,
            Case.owner_id,
            Loan.id,
            Loan.currency,
            Borrower.id,
            Borrower.jurisdiction,
            Borrower.timezone,
            Borrower.locale,
            Borrower.phone,
            Borrower.email,
            Borrower.postal_address,
        )
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(Case.id.in_(case_ids))
    ).all()
    wanted = list(case_ids)
    planned = set(
        db.scalars(
            select(Plan.case_id).where(
                Plan.case_id.in_(wanted), Plan.status.in_(LIVE_PLAN_STATUSES)
            )
        )
    )
    promised = set(
        db.scalars(
            select(Promise.case_id).where(
                Promise.case_id.in_(wanted), Promise.status == PromiseStatus.OPEN
            )
        )
    )
    opened = dict(
        db.execute(
            select(ReminderLink.case_id, func.max(VerificationAttempt.at))
            .join(VerificationAttempt, VerificationAttempt.link_id == ReminderLink.id)
            .where(ReminderLink.case_id.in_(wanted), VerificationAttempt.succeeded.is_(True))
            .group_by(ReminderLink.case_id)
        ).all()
    )
    loan_ids = [row[4] for row in rows]
    arrears = arrears_of(now, loan_ids)
    owed: dict[int, int] = dict(
        db.execute(
            arrears.joined(select(Loan.id, arrears.amount)).where(Loan.id.in_(loan_ids))
        ).all()
    )
    chat = linked_accounts(db, [row[6] for row in rows])
    found = {}
    for (
        case_id, status, stage, owner, loan_id, currency, borrower_id, place, zone, locale,
        phone, email, postal,
    ) in rows:  # fmt: skip
        last = as_utc(opened[case_id]) if opened.get(case_id) else None
        facts = CaseFacts(
            stage=Stage(stage),
            market=country_of(place),
            currency=currency,
            arrears=int(owed.get(loan_id) or 0),
            has_plan=case_id in planned,
            has_open_promise=case_id in promised,
            resolved=status == CaseStatus.RESOLVED,
            last_opened=last.astimezone(ZoneInfo(zone)).date() if last else None,
        )
        found[case_id] = _Case(
            facts, borrower_id, loan_id, owner, zone, locale,
            (phone or "").strip(), (email or "").strip(), (postal or "").strip(), last,
            {ch: who for (b, ch), who in chat.items() if b == borrower_id},
        )  # fmt: skip
    return found


# Planning -----------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """One step's outcome for one case, before it is written."""

    candidate: Candidate
    status: PlannedStatus
    channel: StepChannel | None = None
    send_at: datetime | None = None
    reason: str | None = None


class _Planner:
    """One run's planning, variant by variant, chunk by chunk."""

    def __init__(
        self,
        db: Session,
        version: int,
        as_of: date,
        now: datetime,
        summary: RunSummary,
        dry_run: bool,
        zone: ZoneInfo,
    ) -> None:
        self.db, self.version, self.as_of, self.now = db, version, as_of, now
        self.summary, self.dry_run, self.zone = summary, dry_run, zone

    def plan(self, variant: Variant, catch_up: int) -> None:
        """Plan one form of a step for every case it is due for."""
        found = candidates(self.db, variant.step, self.as_of, catch_up, self.zone)
        if variant.step.event is Event.STAGE_ENTRY:
            found = self._entering(found, variant.step)
        for start in range(0, len(found), CHUNK):
            self._chunk(variant, found[start : start + CHUNK])
            if not self.dry_run:
                self.db.commit()

    def _entering(self, found: list[Candidate], step: Step) -> list[Candidate]:
        """Stage changes into one of the step's stages (the event's data says which)."""
        if not found:
            return found
        stages = {stage.value for stage in step.when.stages or ()}
        ids = [int(c.occurrence.removeprefix("ev:")) for c in found]
        into = {
            event_id
            for event_id, data in self.db.execute(
                select(CaseEvent.id, CaseEvent.data).where(CaseEvent.id.in_(ids))
            )
            if (data or {}).get("to") in stages
        }
        return [c for c in found if int(c.occurrence.removeprefix("ev:")) in into]

    def _chunk(self, variant: Variant, chunk: list[Candidate]) -> None:
        db, step = self.db, variant.step
        if db.get_bind().dialect.name == "postgresql":
            db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        chunk = self._unplanned(step.name, chunk)
        if not chunk:
            return
        case_ids = sorted({c.case_id for c in chunk})
        arms = self._arms(variant, case_ids)
        chunk = [c for c in chunk if variant.arm is None or arms.get(c.case_id) == variant.arm]
        if not chunk:
            return
        cases = _cases(db, case_ids, self.now)
        moments = {
            c.case_id: planned_moment(
                step,
                self.as_of,
                cases[c.case_id].zone,
                self.now,
                self._opened_hour(cases[c.case_id]),
            )
            for c in chunk
            if c.case_id in cases
        }
        book = ContactBook.read(
            db,
            case_ids,
            min(moments.values(), default=self.now),
            max(moments.values(), default=self.now),
        )
        plans: list[_Plan] = []
        eligible: list[int] = []
        for candidate in chunk:
            case = cases.get(candidate.case_id)
            if case is None:
                continue
            skip = mismatch(step, case.facts, self.as_of)
            if skip is not None:
                plans.append(_Plan(candidate, PlannedStatus.SKIPPED, reason=skip.value))
                continue
            eligible.append(candidate.case_id)
            plans.append(self._judge(step, candidate, case, book, moments[candidate.case_id]))
        if variant.experiment is not None:
            self._record_arms(variant.experiment, eligible, arms, cases)
        self._write(variant, plans, cases)

    def _unplanned(self, step: str, chunk: list[Candidate]) -> list[Candidate]:
        """The chunk less what is planned already (read under the run lock)."""
        done = set(
            self.db.execute(
                select(PlannedStep.case_id, PlannedStep.occurrence).where(
                    PlannedStep.step == step,
                    PlannedStep.case_id.in_(sorted({c.case_id for c in chunk})),
                )
            ).all()
        )
        return [c for c in chunk if (c.case_id, c.occurrence) not in done]

    def _opened_hour(self, case: _Case) -> int | None:
        if case.opened_at is None:
            return None
        return case.opened_at.astimezone(ZoneInfo(case.zone)).hour

    def _arms(self, variant: Variant, case_ids: list[int]) -> dict[int, str]:
        """Each case's arm of the variant's experiment: recorded, else by the hash."""
        experiment = variant.experiment
        if experiment is None:
            return {}
        recorded = dict(
            self.db.execute(
                select(ExperimentAssignment.case_id, ExperimentAssignment.arm).where(
                    ExperimentAssignment.experiment == experiment.name,
                    ExperimentAssignment.case_id.in_(case_ids),
                )
            ).all()
        )
        return {
            case_id: recorded.get(case_id) or arm_for(experiment, case_id).name
            for case_id in case_ids
        }

    def _record_arms(
        self,
        experiment: Experiment,
        eligible: list[int],
        arms: dict[int, str],
        cases: dict[int, _Case],
    ) -> None:
        """Record the arm of each eligible case that has none recorded yet."""
        if not eligible:
            return
        recorded = set(
            self.db.scalars(
                select(ExperimentAssignment.case_id).where(
                    ExperimentAssignment.experiment == experiment.name,
                    ExperimentAssignment.case_id.in_(eligible),
                )
            )
        )
        rows = [
            {
                "experiment": experiment.name,
                "arm": arms[case_id],
                "case_id": case_id,
                "version": self.version,
                "assigned_at": self.now,
                "as_of": self.as_of,
                "arrears": cases[case_id].facts.arrears,
                "currency": cases[case_id].facts.currency,
            }
            for case_id in sorted(set(eligible) - recorded)
        ]
        if rows:
            self.db.execute(insert(ExperimentAssignment), rows)

    def _judge(
        self, step: Step, candidate: Candidate, case: _Case, book: ContactBook, moment: datetime
    ) -> _Plan:
        """The first of the step's channels the rules allow now or later; else the reason
        the first one is refused for good."""
        first_reason: str | None = None
        opted = book.opted_out(candidate.case_id)
        for channel in step.channels:
            gate_channel = GATE_CHANNELS[channel]
            if not self._reachable(channel, case):
                first_reason = first_reason or NO_ADDRESS
                continue
            if gate_channel in opted:
                first_reason = first_reason or "opted_out"
                continue
            decision = book.decide(candidate.case_id, gate_channel, moment)
            if decision.allowed:
                return self._planned(candidate, channel, moment, PlannedStatus.QUEUED, book)
            if decision.allowed_from is not None:
                later = as_utc(decision.allowed_from)
                return self._planned(candidate, channel, later, PlannedStatus.DEFERRED, book)
            first_reason = first_reason or _permanent(decision)
        return _Plan(candidate, PlannedStatus.SKIPPED, reason=first_reason or NO_ADDRESS)

    def _reachable(self, channel: StepChannel, case: _Case) -> bool:
        if channel in (StepChannel.LINE, StepChannel.WECHAT):
            return GATE_CHANNELS[channel] in case.chat
        if channel in (StepChannel.SMS, StepChannel.CALL):
            return bool(case.phone)
        if channel is StepChannel.EMAIL:
            return bool(case.email)
        return bool(case.postal)

    def _planned(
        self,
        candidate: Candidate,
        channel: StepChannel,
        at: datetime,
        status: PlannedStatus,
        book: ContactBook,
    ) -> _Plan:
        if channel in MESSAGE_CHANNELS:
            book.add(candidate.case_id, MESSAGE_CHANNELS[channel], at)
        else:
            status = PlannedStatus.TASK
        return _Plan(candidate, status, channel, at.astimezone(UTC))

    def _write(self, variant: Variant, plans: list[_Plan], cases: dict[int, _Case]) -> None:
        step = variant.step
        messages = [plan for plan in plans if plan.channel in MESSAGE_CHANNELS]
        message_ids: dict[int, int] = {}
        if messages:
            rows = [
                self._message_row(step, plan, cases[plan.candidate.case_id]) for plan in messages
            ]
            ids = self.db.scalars(
                insert(Message).returning(Message.id, sort_by_parameter_order=True), rows
            ).all()
            message_ids = {
                id(plan): message_id for plan, message_id in zip(messages, ids, strict=True)
            }
        # The cases given a task, read in one statement (``_task`` then finds each in the
        # session rather than reading it alone); held here so the session keeps them.
        tasked = sorted({p.candidate.case_id for p in plans if p.status is PlannedStatus.TASK})
        loaded = list(self.db.scalars(select(Case).where(Case.id.in_(tasked)))) if tasked else []
        rows = []
        for plan in plans:
            task = (
                self._task(step, plan, cases[plan.candidate.case_id])
                if plan.status is PlannedStatus.TASK
                else (None, None)
            )
            rows.append(
                {
                    "case_id": plan.candidate.case_id,
                    "step": step.name,
                    "occurrence": plan.candidate.occurrence,
                    "as_of": self.as_of,
                    "version": self.version,
                    "variant": variant.tag,
                    "channel": plan.channel.value if plan.channel else None,
                    "template": step.template.value if plan.channel in MESSAGE_CHANNELS else None,
                    "status": plan.status,
                    "reason": plan.reason,
                    "message_id": message_ids.get(id(plan)),
                    "callback_id": task[0],
                    "flag_id": task[1],
                    "send_at": plan.send_at,
                    "planned_at": self.now,
                }
            )
            self._count(variant, plan)
        if rows:
            # Every row with every column (None as NULL): one batched INSERT per chunk.
            # Without it the ORM groups consecutive rows by the columns they set, and a
            # chunk mixing skipped, queued and task rows became a statement per row.
            self.db.execute(insert(PlannedStep).execution_options(render_nulls=True), rows)
        del loaded

    def _message_row(self, step: Step, plan: _Plan, case: _Case) -> dict[str, Any]:
        if plan.channel is None or plan.send_at is None:
            raise ValueError("a message is planned on a channel for a time")
        channel = MESSAGE_CHANNELS[plan.channel]
        offer_id = plan.candidate.offer_id if step.template is Template.OFFER else None
        return {
            "case_id": plan.candidate.case_id,
            "borrower_id": case.borrower_id,
            "channel": channel.value,
            "purpose": step.template.value,
            "offer_id": offer_id,
            "address": case.chat[channel]
            if channel.is_chat
            else (case.phone if channel is Channel.SMS else case.email),
            "locale": case.locale,
            "status": MessageStatus.SCHEDULED,
            "send_at": plan.send_at,
            "created_by": SYSTEM,
            "created_at": self.now,
        }

    def _task(self, step: Step, plan: _Plan, case: _Case) -> tuple[int | None, int | None]:
        """A call for the owner (a callback from the strategy, unless one is open: the
        call owed already serves) or a letter to send (a "letter due" flag)."""
        row = self.db.get_one(Case, plan.candidate.case_id)
        assert plan.send_at is not None  # noqa: S101 (tasks are planned for a time)
        if plan.channel is StepChannel.CALL:
            existing = open_callback(self.db, row.id)
            if existing is not None:
                return existing.id, None
            callback = schedule_callback(
                self.db, row, plan.send_at, CallbackSource.STRATEGY, SYSTEM, self.now,
                note=step.label or step.name,
            )  # fmt: skip
            return callback.id, None
        flag = raise_flag(self.db, row, FlagReason.LETTER_DUE, self.now, "system", step=step.name)
        if flag is None:
            flag_id = self.db.scalar(
                select(CaseFlag.id).where(
                    CaseFlag.case_id == row.id,
                    CaseFlag.reason == FlagReason.LETTER_DUE,
                    CaseFlag.cleared_at.is_(None),
                )
            )
            return None, flag_id
        return None, flag.id

    def _count(self, variant: Variant, plan: _Plan) -> None:
        summary = self.summary
        if plan.status is PlannedStatus.SKIPPED:
            summary.skipped[plan.reason or "unknown"] += 1
            return
        summary.planned += 1
        summary.by_step[variant.step.name] += 1
        summary.by_channel[plan.channel.value if plan.channel else "none"] += 1
        if variant.tag is not None:
            summary.by_variant[variant.tag] += 1
        if plan.status is PlannedStatus.DEFERRED:
            summary.scheduled_later += 1


def _permanent(decision: ContactDecision) -> str:
    permanent = [reason.value for reason in decision.reasons if reason.is_permanent]
    return (permanent or [reason.value for reason in decision.reasons] or ["refused"])[0]
