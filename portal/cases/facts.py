"""Reading a case: from rows to the engine's snapshot, and what the borrower is shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from flask import Flask, current_app, g
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from negotiation import (
    Arrears,
    Currency,
    EventKind,
    Frequency,
    Hold,
    Installment,
    LoanSnapshot,
    PlanKind,
    Policy,
    Stage,
    TimelineEvent,
    Waiver,
    load_policy,
    plan_timeline,
    timeline,
)
from negotiation import Plan as Schedule
from negotiation.legal import LegalStanding
from portal.core import clock
from portal.core.db import session as request_session
from portal.models import (
    LIVE_PLAN_STATUSES,
    Case,
    CaseEvent,
    LegalStep,
    LegalTrack,
    LegalTrackStatus,
    Loan,
    Plan,
    PlanStatus,
)
from portal.policy import versions


def init_app(app: Flask) -> None:
    """Load the configured policy file once (the defaults, then a product file if
    configured): it becomes version 1 when no version is recorded yet. Versions approved
    since are parsed once per process, on first use, and kept by number."""
    path = app.config.get("POLICY_FILE") or None
    text = Path(path).read_text("utf-8") if path else ""
    app.extensions["haohuan.policy"] = load_policy(path=Path(path) if path else None)
    app.extensions["haohuan.policy_file"] = versions.normalise(text)
    app.extensions["haohuan.policy_versions"] = {}


@dataclass(frozen=True)
class InForce:
    """The policy version deciding this request's plans, and its rules."""

    version: int
    rules: Policy


def in_force(read: versions.Head | None = None) -> InForce:
    """The policy in force, found once per request (or command) and kept for it, so what
    decided a plan and the version recorded on it are the same: one indexed query for the
    active version's number (none when the caller ``read`` it in this transaction,
    ``versions.active_head_columns``), the rules themselves parsed once per process per
    version. When no version is recorded yet, the configured file is recorded as
    version 1."""
    if "haohuan_policy" in g:
        found: InForce = g.haohuan_policy
        return found
    database = request_session()
    head = read or versions.active_head(database)
    if head is None:
        head = versions.record_first(
            database, current_app.extensions["haohuan.policy_file"], clock.now()
        )
    g.haohuan_policy = InForce(head.version, _rules_of(database, head))
    return g.haohuan_policy  # type: ignore[no-any-return]


def _rules_of(database: Session, head: versions.Head) -> Policy:
    # The configured file's own policy, parsed at start, while it is the one in force.
    if head.sha256 == versions.sha256(current_app.extensions["haohuan.policy_file"]):
        file_policy: Policy = current_app.extensions["haohuan.policy"]
        return file_policy
    cache: dict[tuple[int, str], Policy] = current_app.extensions["haohuan.policy_versions"]
    key = (head.version, head.sha256)
    if key not in cache:
        row = versions.version(database, head.version)
        assert row is not None  # the active version was just read  # noqa: S101
        cache[key] = versions.parse(row.override_toml)
    return cache[key]


def forget_policy() -> None:
    """Read the version in force again at the next ``in_force`` (after an approval made in
    this request or command)."""
    g.pop("haohuan_policy", None)


def policy(read: versions.Head | None = None) -> Policy:
    """The policy in force (``in_force`` says what ``read`` saves)."""
    return in_force(read).rules


def policy_version() -> int:
    """The number of the policy version in force (recorded on plans and offers)."""
    return in_force().version


def snapshot_of(
    db: Session, case: Case, today: date, *, restructures: int | None = None
) -> LoanSnapshot:
    """The engine's view of a case's loan on ``today``, from its installments and charges
    (and the restructures of the last 12 months: counted here unless given)."""
    loan = case.loan
    overdue = [i for i in loan.installments if i.due_date < today and i.unpaid > 0]
    upcoming = [i for i in loan.installments if i.due_date >= today]
    days = (today - overdue[0].due_date).days if overdue else 0
    charges = {"fee": 0, "penalty": 0}
    for charge in loan.charges:
        charges[charge.kind] += charge.outstanding
    regular = upcoming[0].amount_due if upcoming else 0
    return LoanSnapshot(
        as_of=today,
        currency=Currency(loan.currency),
        arrears=Arrears(
            principal=sum(i.principal_outstanding for i in overdue),
            interest=sum(i.interest_outstanding for i in overdue),
            fees=charges["fee"],
            penalties=charges["penalty"],
        ),
        not_yet_due_principal=sum(i.principal_outstanding for i in upcoming),
        regular_installment=regular,
        days_past_due=days,
        frequency=Frequency(loan.frequency),
        restructures_last_12_months=_recent_restructures(db, case, today)
        if restructures is None
        else restructures,
        holds=frozenset({Hold(case.hold)}) if case.hold else frozenset(),
    )


def _recent_restructures(db: Session, case: Case, today: date) -> int:
    since = today - timedelta(days=365)
    query = select(func.count(Plan.id)).where(
        Plan.case_id == case.id,
        Plan.kind == PlanKind.RESTRUCTURE.value,
        Plan.status.in_(COUNTED_RESTRUCTURES),
        func.date(Plan.accepted_at) >= since,
    )
    return int(db.scalar(query) or 0)


def live_plan(db: Session, case: Case) -> Plan | None:
    """The case's pending or active plan, if any."""
    query = select(Plan).where(Plan.case_id == case.id, Plan.status.in_(LIVE_PLAN_STATUSES))
    return db.scalars(query).first()


@dataclass(frozen=True)
class CaseView:
    """Everything the status page shows about one case."""

    case: Case
    loan: Loan
    snapshot: LoanSnapshot
    stage: Stage
    timeline: tuple[TimelineEvent, ...]
    plan: Plan | None
    ended: EndedPlan | None = None

    @property
    def arranged(self) -> bool:
        """True once the first installment of a plan is paid: escalation is paused."""
        return self.plan is not None and self.plan.status == PlanStatus.ACTIVE


def view_case(db: Session, case: Case, today: date) -> CaseView:
    """The case as the borrower sees it on ``today``. The case's plans are read in one
    statement (a case has a handful): the restructures counted, the live plan and the
    latest ended one are all found among them."""
    plans = db.scalars(select(Plan).where(Plan.case_id == case.id).order_by(Plan.id)).all()
    snapshot = snapshot_of(db, case, today, restructures=restructures_within(plans, today))
    rules = policy()
    plan = next((found for found in plans if found.status in LIVE_PLAN_STATUSES), None)
    return CaseView(
        case=case,
        loan=case.loan,
        snapshot=snapshot,
        stage=rules.stage_for(snapshot.days_past_due),
        timeline=timeline(snapshot, rules, legal_standings(db, [case.id]).get(case.id)),
        plan=plan,
        ended=None if plan is not None or not plans else _ended(plans[-1], today),
    )


# The restructures that count against a borrower: those agreed, kept or broken since.
COUNTED_RESTRUCTURES = (PlanStatus.ACTIVE, PlanStatus.COMPLETED, PlanStatus.BROKEN)


def restructures_within(plans: Sequence[Plan], today: date) -> int:
    """How many of a case's ``plans`` are restructures accepted in the 12 months to
    ``today`` (the accepted day taken in UTC, as ``_recent_restructures`` counts it)."""
    since = today - timedelta(days=365)
    return sum(
        1
        for plan in plans
        if plan.kind == PlanKind.RESTRUCTURE.value
        and plan.status in COUNTED_RESTRUCTURES
        and plan.accepted_at.astimezone(UTC).date() >= since
    )


def views_of(db: Session, wanted: Sequence[tuple[Case, date]]) -> dict[int, CaseView]:
    """``view_case`` for many cases at once (each on its own ``today``), by case id, in
    seven statements whatever their number: the loans' installments and charges, the
    restructures, the live plans and the latest plans, each with their installments. The same
    rows reach the same engine, so each view is the one ``view_case`` gives (a test
    holds them equal); what the scheduled sender composes its emails from."""
    if not wanted:
        return {}
    cases = {case.id: case for case, _ in wanted}
    loans = [case.loan for case in cases.values()]
    load_schedules(db, loans)
    ids = sorted(cases)
    oldest = min(today for _, today in wanted) - timedelta(days=365)
    restructured: dict[int, list[date]] = {}
    for case_id, accepted in db.execute(
        select(Plan.case_id, func.date(Plan.accepted_at)).where(
            Plan.case_id.in_(ids),
            Plan.kind == PlanKind.RESTRUCTURE.value,
            Plan.status.in_((PlanStatus.ACTIVE, PlanStatus.COMPLETED, PlanStatus.BROKEN)),
            func.date(Plan.accepted_at) >= oldest,
        )
    ):
        # SQLite's date() is text, PostgreSQL's a date.
        day = accepted if isinstance(accepted, date) else date.fromisoformat(str(accepted))
        restructured.setdefault(case_id, []).append(day)
    live: dict[int, Plan] = {}
    for found in db.scalars(
        select(Plan)
        .where(Plan.case_id.in_(ids), Plan.status.in_(LIVE_PLAN_STATUSES))
        .order_by(Plan.id)
        .options(selectinload(Plan.installments))
    ):
        live.setdefault(found.case_id, found)
    latest_ids = (
        select(func.max(Plan.id))
        .where(Plan.case_id.in_([i for i in ids if i not in live]))
        .group_by(Plan.case_id)
    )
    latest = {
        plan.case_id: plan
        for plan in db.scalars(
            select(Plan).where(Plan.id.in_(latest_ids)).options(selectinload(Plan.installments))
        )
    }
    rules = policy()
    standings = legal_standings(db, ids)
    views = {}
    for case, today in wanted:
        since = today - timedelta(days=365)
        count = sum(1 for day in restructured.get(case.id, ()) if day >= since)
        snapshot = snapshot_of(db, case, today, restructures=count)
        plan = live.get(case.id)
        views[case.id] = CaseView(
            case=case,
            loan=case.loan,
            snapshot=snapshot,
            stage=rules.stage_for(snapshot.days_past_due),
            timeline=timeline(snapshot, rules, standings.get(case.id)),
            plan=plan,
            ended=None if plan is not None else _ended(latest.get(case.id), today),
        )
    return views


# A track the borrower has been told of (its final notice sent) and not stopped: its real
# steps replace the timeline's "may be referred" (issue 19).
_TOLD = (
    LegalTrackStatus.NOTICED,
    LegalTrackStatus.ACTIVE,
    LegalTrackStatus.PAUSED,
    LegalTrackStatus.CLOSED,
)


def legal_standings(db: Session, case_ids: Sequence[int]) -> dict[int, LegalStanding]:
    """Where each case's legal track stands for its borrower, by case id: the latest
    track whose final notice was sent and that was not stopped, with its steps in order.
    Cases without one are absent. Two statements whatever the number of cases."""
    if not case_ids:
        return {}
    tracks: dict[int, LegalTrack] = {}
    for track in db.scalars(
        select(LegalTrack)
        .where(
            LegalTrack.case_id.in_(case_ids),
            LegalTrack.status.in_(_TOLD),
            LegalTrack.notice_sent_on.is_not(None),
        )
        .order_by(LegalTrack.id)
    ):
        tracks[track.case_id] = track
    if not tracks:
        return {}
    steps: dict[int, list[tuple[LegalStep, date]]] = {}
    for step in db.scalars(
        select(LegalStep)
        .where(LegalStep.track_id.in_([t.id for t in tracks.values()]))
        .order_by(LegalStep.reached_on, LegalStep.id)
    ):
        steps.setdefault(step.track_id, []).append((step, step.reached_on))
    return {
        case_id: LegalStanding(
            notice_sent_on=track.notice_sent_on,
            deadline=track.deadline,
            reached=tuple((step.milestone, on) for step, on in steps.get(track.id, [])),
            paused=track.status == LegalTrackStatus.PAUSED,
        )
        for case_id, track in tracks.items()
    }


def load_schedules(db: Session, loans: Sequence[Loan]) -> None:
    """Load the installments and charges of ``loans`` not loaded yet, two statements for
    all of them (what ``snapshot_of`` reads)."""
    needed = [loan for loan in loans if "installments" not in loan.__dict__]
    if needed:
        db.scalars(
            select(Loan)
            .where(Loan.id.in_([loan.id for loan in needed]))
            .options(selectinload(Loan.installments), selectinload(Loan.charges))
        ).all()


# How long a broken or lapsed plan is still told on the status page.
ENDED_PLAN_SHOWN_DAYS = 90


@dataclass(frozen=True)
class EndedPlan:
    """A plan that ended without being kept: broken (missed payments) or lapsed (never
    started), on the date the borrower had been shown."""

    plan: Plan
    ended_on: date
    missed: int


def ended_plan(db: Session, case: Case, today: date) -> EndedPlan | None:
    """The case's latest plan, if it broke or lapsed recently."""
    latest = db.scalars(
        select(Plan).where(Plan.case_id == case.id).order_by(Plan.id.desc()).limit(1)
    ).first()
    return _ended(latest, today)


def _ended(latest: Plan | None, today: date) -> EndedPlan | None:
    """``latest`` (a case's newest plan) as an ended plan still told on ``today``."""
    if latest is None or latest.status not in (PlanStatus.BROKEN, PlanStatus.LAPSED):
        return None
    missed = [i.missed_on for i in latest.installments if i.missed_on is not None]
    first = latest.installments[0].due_date + timedelta(days=policy().grace_days)
    ended_on = max(missed) if latest.status == PlanStatus.BROKEN and missed else first
    if (today - ended_on).days > ENDED_PLAN_SHOWN_DAYS:
        return None
    return EndedPlan(latest, ended_on, len(missed))


def record_event(
    db: Session, case: Case, kind: str, actor: str, *, at: datetime | None = None, **data: object
) -> CaseEvent:
    """Append an event to the case's timeline (committed with the caller's work), dated
    ``at``: the moment the caller's work happened (a gateway's event handled late, or a
    frozen clock), else the portal's clock now."""
    event = CaseEvent(
        case_id=case.id, kind=kind, actor=actor, at=at or clock.now(), data=dict(data)
    )
    db.add(event)
    return event


def plan_events_of(
    db: Session, case: Case, plan: Plan, today: date, snapshot: LoanSnapshot | None = None
) -> tuple[TimelineEvent, ...]:
    """What the live plan means from today, as the engine states it: for an active plan,
    only what is still to pay (escalation is already paused). The borrower's status page
    and the agent's case page show the same dated facts. ``snapshot``, the case's on
    ``today`` when the caller has it already, saves building it again."""
    remaining = schedule_of(plan, unpaid_only=plan.status == PlanStatus.ACTIVE)
    if remaining is None:
        return ()
    snapshot = snapshot or snapshot_of(db, case, today)
    events = plan_timeline(
        snapshot, policy(), remaining, today, conditional_waiver=plan.conditional_waiver
    )
    if plan.status != PlanStatus.ACTIVE:
        return events
    already = (EventKind.ESCALATION_PAUSED, EventKind.PENALTIES_FROZEN)
    return tuple(event for event in events if event.kind not in already)


def schedule_of(plan: Plan, *, unpaid_only: bool) -> Schedule | None:
    """A stored plan (or what is left of it) as the engine's schedule."""
    items = [
        Installment(i.due_date, i.outstanding, i.moved_from)
        for i in plan.installments
        if not unpaid_only or i.outstanding > 0
    ]
    if not items:
        return None
    return Schedule(
        kind=PlanKind(plan.kind),
        frequency=Frequency(plan.frequency or "monthly"),
        installments=tuple(items),
        restructured=plan.restructured,
        waiver=Waiver(plan.waived_penalties, plan.waived_fees, plan.discount),
        interest=plan.interest,
        interest_rate_pct=Decimal(plan.interest_rate_pct),
    )
