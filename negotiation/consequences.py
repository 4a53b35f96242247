"""What happens next, and on which date: the dated timeline a borrower is shown.

Two timelines: the one that follows if nothing changes, and the one under a plan,
including exactly what a missed installment triggers and when. Both are facts computed
from the policy, so what the borrower is told before accepting is what the system does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from negotiation.dates import add_months
from negotiation.legal import LegalMilestone, LegalStanding
from negotiation.money import percent_of
from negotiation.plans import Plan
from negotiation.policy import PlanKind, Policy, Stage
from negotiation.snapshot import LoanSnapshot

# Inside TimelineEvent, ``date`` names its field; this names the type.
_Day = date


class EventKind(StrEnum):
    """The kinds of dated consequence."""

    ON_HOLD = "on_hold"
    PENALTY_ACCRUES = "penalty_accrues"
    CREDIT_REPORTED = "credit_reported"
    STAGE_CHANGES = "stage_changes"
    LEGAL_REFERRAL = "legal_referral"
    # The legal track's real steps (issue 19), shown instead of LEGAL_REFERRAL's date
    # once the borrower has been sent the final notice.
    LEGAL_NOTICE_SENT = "legal_notice_sent"
    LEGAL_NOTICE_DEADLINE = "legal_notice_deadline"
    LEGAL_MILESTONE = "legal_milestone"
    ESCALATION_PAUSED = "escalation_paused"
    PENALTIES_FROZEN = "penalties_frozen"
    INSTALLMENT_MOVED = "installment_moved"
    MISSED_IF_UNPAID = "missed_if_unpaid"
    PLAN_BROKEN = "plan_broken"
    WAIVER_REINSTATED = "waiver_reinstated"
    PLAN_COMPLETED = "plan_completed"


@dataclass(frozen=True)
class TimelineEvent:
    """One dated consequence.

    ``stage`` is the stage an event moves the case to (stage changes, a broken plan);
    ``amount`` the money involved (a penalty, a reinstated waiver, a missed
    installment); ``past`` marks a milestone already reached on the snapshot's date;
    ``moved_from`` is a moved installment's original date; ``milestone`` the legal
    track's step reached (``LEGAL_MILESTONE``).
    """

    date: date
    kind: EventKind
    stage: Stage | None = None
    amount: int | None = None
    past: bool = False
    moved_from: _Day | None = None
    milestone: LegalMilestone | None = None


def timeline(
    snapshot: LoanSnapshot, policy: Policy, legal: LegalStanding | None = None
) -> tuple[TimelineEvent, ...]:
    """The milestones reached so far and what follows, by date, if nothing changes.

    A loan that is not overdue has none. While a hold stands, nothing escalates and no
    penalty accrues: past milestones are listed, then the hold itself. ``legal``: the
    case's legal track once its final notice was sent: its real steps and their dates
    replace the day from which the loan "may be referred".
    """
    if snapshot.days_past_due == 0:
        return ()
    events = list(_milestones(snapshot, policy))
    if legal is not None and legal.notice_sent_on is not None:
        events = [event for event in events if event.kind is not EventKind.LEGAL_REFERRAL]
        events.extend(_legal_events(snapshot, legal, legal.notice_sent_on))
    if snapshot.on_hold:
        events = [event for event in events if event.past]
        events.append(TimelineEvent(snapshot.as_of, EventKind.ON_HOLD))
    else:
        penalty = _next_penalty(snapshot, policy)
        if penalty is not None:
            events.append(penalty)
    return tuple(sorted(events, key=_chronological))


def plan_timeline(
    snapshot: LoanSnapshot,
    policy: Policy,
    plan: Plan,
    today: date,
    *,
    conditional_waiver: bool,
) -> tuple[TimelineEvent, ...]:
    """What a plan changes, by date: escalation paused, and what breaking it triggers.

    Days past due keep counting from the first missed due date while the arrears are
    unpaid, so a broken plan returns the case to the stage those days imply. An
    installment the borrower moved is stated on its new date, with the date it left;
    the missed and broken dates follow the new date, as the daily work does.
    """
    if plan.kind in (PlanKind.PAY_IN_FULL, PlanKind.SETTLEMENT):
        return (TimelineEvent(plan.first_due_date, EventKind.PLAN_COMPLETED),)
    # A promise to pay pauses escalation from acceptance; a plan from its first payment.
    paused_on = today if plan.kind is PlanKind.DEFERRAL else plan.first_due_date
    first = plan.installments[0]
    misses = min(policy.misses_before_broken, len(plan.installments))
    broken_on = plan.installments[misses - 1].due_date + timedelta(days=policy.grace_days)
    stage_then = policy.stage_for(snapshot.days_past_due + (broken_on - snapshot.as_of).days)
    events = [
        TimelineEvent(paused_on, EventKind.ESCALATION_PAUSED),
        TimelineEvent(paused_on, EventKind.PENALTIES_FROZEN),
        TimelineEvent(
            first.due_date + timedelta(days=policy.grace_days),
            EventKind.MISSED_IF_UNPAID,
            amount=first.amount,
        ),
        TimelineEvent(broken_on, EventKind.PLAN_BROKEN, stage=stage_then),
    ]
    events.extend(
        TimelineEvent(
            item.due_date,
            EventKind.INSTALLMENT_MOVED,
            amount=item.amount,
            moved_from=item.moved_from,
        )
        for item in plan.installments
        if item.moved_from is not None
    )
    if conditional_waiver and plan.waiver.total > 0:
        events.append(
            TimelineEvent(broken_on, EventKind.WAIVER_REINSTATED, amount=plan.waiver.total)
        )
    events.append(TimelineEvent(plan.last_due_date, EventKind.PLAN_COMPLETED))
    return tuple(sorted(events, key=_chronological))


def _milestones(snapshot: LoanSnapshot, policy: Policy) -> list[TimelineEvent]:
    thresholds = [
        (policy.credit_report_days, EventKind.CREDIT_REPORTED, None),
        (policy.mid_from_days, EventKind.STAGE_CHANGES, Stage.MID),
        (policy.late_from_days, EventKind.STAGE_CHANGES, Stage.LATE),
        (policy.legal_referral_days, EventKind.LEGAL_REFERRAL, None),
    ]
    return [
        TimelineEvent(
            snapshot.date_at_days_past_due(days),
            kind,
            stage=stage,
            past=days <= snapshot.days_past_due,
        )
        for days, kind, stage in thresholds
    ]


def _legal_events(
    snapshot: LoanSnapshot, legal: LegalStanding, sent_on: date
) -> list[TimelineEvent]:
    events = [TimelineEvent(sent_on, EventKind.LEGAL_NOTICE_SENT, past=True)]
    if legal.deadline is not None and not legal.reached:
        events.append(
            TimelineEvent(
                legal.deadline,
                EventKind.LEGAL_NOTICE_DEADLINE,
                past=legal.deadline < snapshot.as_of,
            )
        )
    events.extend(
        TimelineEvent(on, EventKind.LEGAL_MILESTONE, past=True, milestone=milestone)
        for milestone, on in legal.reached
    )
    return events


def _next_penalty(snapshot: LoanSnapshot, policy: Policy) -> TimelineEvent | None:
    """The next monthly penalty: on each monthly anniversary of the first missed due
    date, up to the policy's number of accruals."""
    missed = snapshot.first_missed_due_date
    step = snapshot.currency.installment_step
    amount = percent_of(snapshot.arrears.principal, policy.penalty_monthly_pct) // step * step
    if missed is None or amount == 0:
        return None
    for accrual in range(1, policy.penalty_max_accruals + 1):
        on = add_months(missed, accrual, missed.day)
        if on > snapshot.as_of:
            return TimelineEvent(on, EventKind.PENALTY_ACCRUES, amount=amount)
    return None


_KIND_ORDER = {kind: index for index, kind in enumerate(EventKind)}


def _chronological(event: TimelineEvent) -> tuple[date, int]:
    return (event.date, _KIND_ORDER[event.kind])
