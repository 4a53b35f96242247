"""Moving one installment of a plan: who may, how far, and why not."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from negotiation import (
    EventKind,
    MoveRefusal,
    PlanKind,
    PlanPayment,
    judge_move,
    load_policy,
    movable,
    move_window,
    moved,
    plan_timeline,
)
from negotiation.plans import Terms, build_plan

from .conftest import AS_OF, snapshot

# A monthly plan whose first installment was paid on 2026-11-05.
PLAN = (
    PlanPayment(date(2026, 11, 5), 0),
    PlanPayment(date(2026, 12, 5), 200_000),
    PlanPayment(date(2027, 1, 5), 200_000),
    PlanPayment(date(2027, 2, 5), 200_000),
)


def test_the_next_installment_moves_by_up_to_the_policys_days(policy):
    decision = move_window(PLAN, 1, AS_OF, policy, active=True)
    assert decision.allowed
    assert decision.window is not None
    assert (decision.window.earliest, decision.window.latest) == (
        date(2026, 12, 6),
        date(2026, 12, 19),
    )
    assert judge_move(PLAN, 1, date(2026, 12, 19), AS_OF, policy, active=True).allowed
    assert judge_move(PLAN, 1, date(2026, 12, 6), AS_OF, policy, active=True).allowed


@pytest.mark.parametrize(
    ("index", "new_date", "refusal"),
    [
        (1, date(2026, 12, 5), MoveRefusal.NOT_LATER),
        (1, date(2026, 12, 1), MoveRefusal.NOT_LATER),
        (1, date(2026, 12, 20), MoveRefusal.TOO_LATE),
        (1, date(2027, 1, 5), MoveRefusal.TOO_LATE),
        (0, date(2026, 11, 10), MoveRefusal.ALREADY_PAID),
        (4, date(2027, 3, 1), MoveRefusal.NO_SUCH_INSTALLMENT),
        (-1, date(2027, 3, 1), MoveRefusal.NO_SUCH_INSTALLMENT),
    ],
)
def test_each_refusal_has_its_reason(policy, index, new_date, refusal):
    decision = judge_move(PLAN, index, new_date, AS_OF, policy, active=True)
    assert decision.refusal is refusal


def test_a_refused_date_still_carries_the_window(policy):
    decision = judge_move(PLAN, 1, date(2026, 12, 25), AS_OF, policy, active=True)
    assert decision.refusal is MoveRefusal.TOO_LATE
    assert decision.window is not None
    assert decision.window.latest == date(2026, 12, 19)


def test_the_order_of_installments_stays(policy):
    weekly = (
        PlanPayment(date(2026, 12, 1), 50_000),
        PlanPayment(date(2026, 12, 8), 50_000),
    )
    decision = move_window(weekly, 0, AS_OF, policy, active=True)
    assert decision.window is not None
    assert decision.window.latest == date(2026, 12, 7)  # the day before the next one
    refused = judge_move(weekly, 0, date(2026, 12, 8), AS_OF, policy, active=True)
    assert refused.refusal is MoveRefusal.NOT_BEFORE_NEXT
    # The last installment has no next one: only the policy's days bound it.
    assert move_window(weekly, 1, AS_OF, policy, active=True).window.latest == date(2026, 12, 22)


def test_no_room_when_the_next_installment_is_the_day_after(policy):
    daily = (PlanPayment(date(2026, 12, 1), 1), PlanPayment(date(2026, 12, 2), 1))
    assert move_window(daily, 0, AS_OF, policy, active=True).refusal is MoveRefusal.NO_ROOM


def test_due_today_may_move_but_not_once_the_day_has_passed(policy):
    on_the_day = move_window(PLAN, 1, date(2026, 12, 5), policy, active=True)
    assert on_the_day.allowed
    late = move_window(PLAN, 1, date(2026, 12, 6), policy, active=True)
    assert late.refusal is MoveRefusal.ALREADY_DUE


def test_once_per_plan(policy):
    after = moved(PLAN, 1, date(2026, 12, 12))
    assert after[1] == PlanPayment(date(2026, 12, 12), 200_000, moved_from=date(2026, 12, 5))
    assert after[2:] == PLAN[2:]
    for index in range(len(PLAN)):
        decision = judge_move(after, index, date(2027, 1, 8), AS_OF, policy, active=True)
        assert decision.refusal is MoveRefusal.ALREADY_MOVED
    assert movable(after, AS_OF, policy, active=True) == ()


def test_only_an_active_plan(policy):
    decision = judge_move(PLAN, 1, date(2026, 12, 8), AS_OF, policy, active=False)
    assert decision.refusal is MoveRefusal.PLAN_NOT_ACTIVE


def test_a_product_can_turn_moves_off():
    off = load_policy({"plans": {"max_installment_move_days": 0}})
    assert move_window(PLAN, 1, AS_OF, off, active=True).refusal is MoveRefusal.NOT_OFFERED
    assert movable(PLAN, AS_OF, off, active=True) == ()


def test_movable_lists_every_upcoming_unpaid_installment(policy):
    found = movable(PLAN, AS_OF, policy, active=True)
    assert [index for index, _ in found] == [1, 2, 3]
    assert found[0][1].latest == date(2026, 12, 19)


def test_the_plan_timeline_states_the_move(policy):
    loan = snapshot(days_past_due=47)
    plan = build_plan(loan, Terms(PlanKind.ARREARS_PLAN, AS_OF, installments=4))
    second = plan.installments[1]
    new_date = second.due_date + timedelta(days=10)
    shifted = replace(
        plan,
        installments=(
            plan.installments[0],
            replace(second, due_date=new_date, moved_from=second.due_date),
            *plan.installments[2:],
        ),
    )
    before = plan_timeline(loan, policy, plan, AS_OF, conditional_waiver=False)
    after = plan_timeline(loan, policy, shifted, AS_OF, conditional_waiver=False)
    assert EventKind.INSTALLMENT_MOVED not in {e.kind for e in before}
    moved_event = next(e for e in after if e.kind is EventKind.INSTALLMENT_MOVED)
    assert (moved_event.date, moved_event.moved_from, moved_event.amount) == (
        new_date,
        second.due_date,
        second.amount,
    )
    # Two misses break the plan: the second installment's grace days now end 10 days later.
    broken = {e.kind: e.date for e in before}[EventKind.PLAN_BROKEN]
    assert {e.kind: e.date for e in after}[EventKind.PLAN_BROKEN] == broken + timedelta(days=10)
    assert [e.date for e in after] == sorted(e.date for e in after)


# Property: whatever the schedule, the day and the policy, an allowed move keeps the plan
# in order, moves later by at most the policy's days, and is the plan's only move.


@st.composite
def schedules(draw: st.DrawFn) -> tuple[PlanPayment, ...]:
    count = draw(st.integers(1, 12))
    gaps = draw(st.lists(st.integers(1, 40), min_size=count, max_size=count))
    start = AS_OF + timedelta(days=draw(st.integers(-60, 60)))
    payments, day = [], start
    for gap in gaps:
        payments.append(PlanPayment(day, draw(st.sampled_from([0, 1, 250_000]))))
        day += timedelta(days=gap)
    return tuple(payments)


@given(
    plan=schedules(),
    index=st.integers(-1, 12),
    offset=st.integers(-5, 45),
    days=st.integers(0, 31),
    today_shift=st.integers(-30, 30),
)
def test_an_allowed_move_keeps_the_plan_in_order(plan, index, offset, days, today_shift):
    policy = load_policy({"plans": {"max_installment_move_days": days}})
    today = AS_OF + timedelta(days=today_shift)
    target = plan[index].due_date + timedelta(days=offset) if 0 <= index < len(plan) else today
    decision = judge_move(plan, index, target, today, policy, active=True)
    # Recomputed here from the raw numbers, not from the rule's own window.
    expected = (
        days > 0
        and 0 <= index < len(plan)
        and plan[index].unpaid > 0
        and plan[index].due_date >= today
        and 0 < offset <= days
        and (index + 1 == len(plan) or target < plan[index + 1].due_date)
    )
    assert decision.allowed is expected
    if not decision.allowed:
        return
    assert decision.window is not None
    assert target in decision.window
    after = moved(plan, index, target)
    assert all(a.due_date < b.due_date for a, b in pairwise(after))
    assert [p.unpaid for p in after] == [p.unpaid for p in plan]
    assert [p for i, p in enumerate(after) if i != index] == [
        p for i, p in enumerate(plan) if i != index
    ]
    assert target >= today
    for other in range(len(after)):
        again = judge_move(after, other, target + timedelta(days=1), today, policy, active=True)
        assert again.refusal is MoveRefusal.ALREADY_MOVED
