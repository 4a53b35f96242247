from datetime import date

from negotiation import Arrears, EventKind, Hold, PlanKind, Stage, plan_timeline, timeline
from negotiation.plans import Terms, build_plan

from .conftest import AS_OF, snapshot


def events(items):
    return [(e.date, e.kind, e.stage, e.amount, e.past) for e in items]


def test_what_happens_next_if_nothing_changes(policy):
    loan = snapshot(days_past_due=10)  # first missed due date: 2026-11-20
    assert events(timeline(loan, policy)) == [
        (date(2026, 12, 20), EventKind.PENALTY_ACCRUES, None, 7_500, False),
        (date(2026, 12, 20), EventKind.CREDIT_REPORTED, None, None, False),
        (date(2026, 12, 21), EventKind.STAGE_CHANGES, Stage.MID, None, False),
        (date(2027, 2, 19), EventKind.STAGE_CHANGES, Stage.LATE, None, False),
        (date(2027, 2, 19), EventKind.LEGAL_REFERRAL, None, None, False),
    ]


def test_milestones_already_reached_are_marked_past(policy):
    loan = snapshot(days_past_due=100)  # first missed due date: 2026-08-22
    assert events(timeline(loan, policy)) == [
        (date(2026, 9, 21), EventKind.CREDIT_REPORTED, None, None, True),
        (date(2026, 9, 22), EventKind.STAGE_CHANGES, Stage.MID, None, True),
        (date(2026, 11, 21), EventKind.STAGE_CHANGES, Stage.LATE, None, True),
        (date(2026, 11, 21), EventKind.LEGAL_REFERRAL, None, None, True),
        (date(2026, 12, 22), EventKind.PENALTY_ACCRUES, None, 7_500, False),
    ]


def test_penalties_stop_after_the_policys_number_of_accruals(policy):
    # 9 monthly accruals from 2026-01-15 end on 2026-10-15: none is left to come.
    loan = snapshot(days_past_due=(AS_OF - date(2026, 1, 15)).days)
    assert EventKind.PENALTY_ACCRUES not in {e.kind for e in timeline(loan, policy)}


def test_a_hold_stops_every_future_consequence(policy):
    loan = snapshot(days_past_due=40, holds=frozenset({Hold.HARDSHIP}))
    items = timeline(loan, policy)
    assert [e for e in items if not e.past] == [items[-1]]
    assert items[-1].kind is EventKind.ON_HOLD
    assert all(e.past for e in items[:-1])


def test_a_current_loan_has_no_timeline(policy):
    loan = snapshot(days_past_due=0, arrears=Arrears())
    assert timeline(loan, policy) == ()


def test_plan_timeline_says_what_breaking_the_plan_triggers_and_when(policy):
    loan = snapshot(days_past_due=47)
    terms = Terms(
        kind=PlanKind.ARREARS_PLAN,
        first_due_date=AS_OF,
        installments=6,
        penalty_waiver_pct=policy.rules_for(Stage.MID).max_penalty_waiver_pct,
    )
    plan = build_plan(loan, terms)
    items = events(plan_timeline(loan, policy, plan, AS_OF, conditional_waiver=True))
    second_due = plan.installments[1].due_date  # 2026-12-30
    assert items == [
        (AS_OF, EventKind.ESCALATION_PAUSED, None, None, False),
        (AS_OF, EventKind.PENALTIES_FROZEN, None, None, False),
        (date(2026, 12, 5), EventKind.MISSED_IF_UNPAID, None, plan.installments[0].amount, False),
        # Two misses break it: the second installment unpaid 5 grace days after it falls
        # due. By then the arrears are 47 + 35 = 82 days past due: still mid stage.
        (date(2027, 1, 4), EventKind.PLAN_BROKEN, Stage.MID, None, False),
        (date(2027, 1, 4), EventKind.WAIVER_REINSTATED, None, 22_500, False),
        (plan.last_due_date, EventKind.PLAN_COMPLETED, None, None, False),
    ]
    assert second_due == date(2026, 12, 30)


def test_a_broken_plan_returns_to_the_stage_its_days_imply(policy):
    loan = snapshot(days_past_due=85)
    plan = build_plan(loan, Terms(PlanKind.ARREARS_PLAN, AS_OF, installments=4))
    broken = next(
        e
        for e in plan_timeline(loan, policy, plan, AS_OF, conditional_waiver=False)
        if e.kind is EventKind.PLAN_BROKEN
    )
    assert broken.stage is Stage.LATE
    kinds = [e.kind for e in plan_timeline(loan, policy, plan, AS_OF, conditional_waiver=False)]
    assert EventKind.WAIVER_REINSTATED not in kinds


def test_a_promise_to_pay_pauses_escalation_at_once_and_breaks_on_one_miss(policy):
    loan = snapshot(days_past_due=12)
    promised = date(2026, 12, 14)
    plan = build_plan(loan, Terms(PlanKind.DEFERRAL, promised))
    items = plan_timeline(loan, policy, plan, AS_OF, conditional_waiver=False)
    assert items[0].kind is EventKind.ESCALATION_PAUSED
    assert items[0].date == AS_OF
    broken = next(e for e in items if e.kind is EventKind.PLAN_BROKEN)
    assert broken.date == date(2026, 12, 19)


def test_paying_in_full_completes_on_the_day(policy):
    loan = snapshot()
    plan = build_plan(loan, Terms(PlanKind.PAY_IN_FULL, AS_OF))
    assert events(plan_timeline(loan, policy, plan, AS_OF, conditional_waiver=False)) == [
        (AS_OF, EventKind.PLAN_COMPLETED, None, None, False)
    ]
