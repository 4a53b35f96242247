from datetime import date, timedelta
from decimal import Decimal

import pytest

from negotiation import (
    Arrears,
    Currency,
    Frequency,
    Hold,
    Label,
    PlanKind,
    Stage,
    Statement,
    load_policy,
    propose,
)

from .conftest import AS_OF, snapshot


def kinds(proposals):
    return {p.plan.kind for p in proposals}


def schedule(plan):
    return [(i.due_date, i.amount) for i in plan.installments]


def test_an_early_case_in_usd_exactly(policy):
    loan = snapshot(
        currency=Currency.USD,
        arrears=Arrears(principal=40_000, interest=5_000, fees=2_500, penalties=2_500),
        not_yet_due_principal=300_000,
        regular_installment=20_000,
        days_past_due=12,
    )
    proposals = propose(loan, policy, AS_OF)
    by_key = {(p.plan.kind, p.plan.frequency, len(p.plan.installments)): p for p in proposals}

    pay = by_key[PlanKind.PAY_IN_FULL, Frequency.MONTHLY, 1]
    # Early stage: penalties waived in full when the arrears are cleared; fees are not.
    assert schedule(pay.plan) == [(AS_OF, 47_500)]
    assert pay.plan.waiver.penalties == 2_500
    assert pay.conditional_waiver is False

    promise = by_key[PlanKind.DEFERRAL, Frequency.MONTHLY, 1]
    assert schedule(promise.plan) == [(date(2026, 12, 14), 50_000)]
    assert promise.plan.waiver.total == 0

    longest = by_key[PlanKind.ARREARS_PLAN, Frequency.MONTHLY, 6]
    assert schedule(longest.plan) == [
        (date(2026, 11, 30), 7_916),
        (date(2026, 12, 30), 7_916),
        (date(2027, 1, 30), 7_916),
        (date(2027, 2, 28), 7_916),
        (date(2027, 3, 30), 7_916),
        (date(2027, 4, 30), 7_920),
    ]
    assert longest.conditional_waiver is True
    assert longest.monthly_burden == 7_916 + 20_000
    assert Label.LOWEST_INSTALLMENT in longest.labels
    assert PlanKind.RESTRUCTURE not in kinds(proposals)  # not an early-stage option
    assert proposals[0].plan.kind is PlanKind.PAY_IN_FULL
    assert Label.RECOMMENDED in proposals[0].labels
    assert all(p.affordable is None for p in proposals)


def test_a_mid_case_offers_restructures_with_a_down_payment(policy):
    proposals = propose(snapshot(days_past_due=47), policy, AS_OF)
    assert kinds(proposals) == {
        PlanKind.PAY_IN_FULL,
        PlanKind.DEFERRAL,
        PlanKind.ARREARS_PLAN,
        PlanKind.RESTRUCTURE,
    }
    arrears_plan = next(
        p.plan
        for p in proposals
        if p.plan.kind is PlanKind.ARREARS_PLAN and len(p.plan.installments) == 12
    )
    # 10 % of the arrears (NT$16,950) down; the rest in whole dollars, cents on the last.
    assert arrears_plan.installments[0].amount == 169_500
    assert {i.amount for i in arrears_plan.installments[1:-1]} == {136_600}
    assert arrears_plan.total == 1_695_000 - 22_500
    restructure = next(p.plan for p in proposals if p.plan.kind is PlanKind.RESTRUCTURE)
    assert restructure.restructured == 1_695_000 + 9_000_000
    assert restructure.interest > 0
    assert restructure.interest_rate_pct == Decimal(5)


def test_a_late_case_may_settle_the_whole_balance_at_a_discount(policy):
    proposals = propose(snapshot(days_past_due=120), policy, AS_OF)
    assert PlanKind.DEFERRAL not in kinds(proposals)
    settlement = next(p.plan for p in proposals if p.plan.kind is PlanKind.SETTLEMENT)
    # Late stage: penalties waived in full, half the fees, then 20 % off the rest.
    assert settlement.waiver.penalties == 45_000
    assert settlement.waiver.fees == 15_000
    payable = 10_695_000 - 45_000 - 15_000
    assert settlement.waiver.discount == payable * 20 // 100
    assert settlement.total == payable - settlement.waiver.discount


def test_nothing_overdue_means_nothing_to_propose(policy):
    assert propose(snapshot(days_past_due=0, arrears=Arrears()), policy, AS_OF) == ()


def test_an_agent_only_stage_still_lets_the_borrower_pay(policy):
    agent_only = load_policy({"stage": {"late": {"self_service": False}}})
    proposals = propose(snapshot(days_past_due=120), agent_only, AS_OF)
    assert kinds(proposals) == {PlanKind.PAY_IN_FULL}


def test_no_second_restructure_within_twelve_months(policy):
    proposals = propose(snapshot(restructures_last_12_months=1), policy, AS_OF)
    assert PlanKind.RESTRUCTURE not in kinds(proposals)
    assert PlanKind.ARREARS_PLAN in kinds(proposals)


def test_arrears_too_small_to_spread_get_single_payments_only(policy):
    small = snapshot(arrears=Arrears(principal=90_000, interest=5_000), days_past_due=5)
    assert kinds(propose(small, policy, AS_OF)) == {PlanKind.PAY_IN_FULL, PlanKind.DEFERRAL}


def test_a_smaller_last_installment_may_fall_below_the_minimum(policy):
    # NT$1,600 overdue, NT$1,000 minimum: NT$1,000 now and NT$600 next time.
    small = snapshot(arrears=Arrears(principal=150_000, interest=10_000), days_past_due=5)
    plans = [p.plan for p in propose(small, policy, AS_OF) if p.plan.kind.is_installment_plan]
    assert plans
    assert {tuple(i.amount for i in plan.installments) for plan in plans} == {(100_000, 60_000)}


def test_a_hold_does_not_take_the_choices_away(policy):
    held = snapshot(holds=frozenset({Hold.HARDSHIP}))
    assert kinds(propose(held, policy, AS_OF)) == kinds(propose(snapshot(), policy, AS_OF))


def test_with_a_statement_the_fastest_affordable_plan_comes_first(policy):
    statement = Statement(
        net_monthly_income=4_500_000,
        household_size=3,
        housing=1_500_000,
        utilities=300_000,
        food=1_200_000,
        transport=300_000,
    )
    proposals = propose(snapshot(), policy, AS_OF, statement)
    first = proposals[0]
    assert first.affordable is True
    assert {Label.RECOMMENDED, Label.FASTEST_AFFORDABLE} <= first.labels
    affordable = [p for p in proposals if p.affordable]
    assert first.plan.last_due_date == min(p.plan.last_due_date for p in affordable)
    # Everything affordable is listed before anything that is not.
    flags = [p.affordable for p in proposals]
    assert flags == sorted(flags, reverse=True)
    pay = next(p for p in proposals if p.plan.kind is PlanKind.PAY_IN_FULL)
    assert pay.affordable is False  # NT$16,725 today does not fit NT$9,600 a month


def test_the_fastest_affordable_term_is_the_shortest_that_fits(policy):
    statement = Statement(net_monthly_income=2_100_000, housing=900_000, food=400_000)
    loan = snapshot(days_past_due=20, regular_installment=300_000)
    proposals = propose(loan, policy, AS_OF, statement)
    monthly = sorted(
        (
            p
            for p in proposals
            if p.plan.kind is PlanKind.ARREARS_PLAN and p.plan.frequency is Frequency.MONTHLY
        ),
        key=lambda p: len(p.plan.installments),
    )
    fastest = monthly[0]
    assert fastest.affordable is True
    # NT$6,400 a month is affordable; NT$3,000 of it goes on the regular installment.
    # The NT$16,500 of arrears (penalties waived) in 5 x NT$3,300 fits; 4 x NT$4,125 not.
    assert [i.amount for i in fastest.plan.installments] == [330_000] * 5


def test_proposals_depend_on_today_not_on_the_clock(policy):
    later = AS_OF + timedelta(days=3)
    proposals = propose(snapshot(), policy, later)
    assert all(p.plan.first_due_date >= later for p in proposals)
    with pytest.raises(ValueError, match="today"):
        propose(snapshot(), policy, AS_OF - timedelta(days=1))


@pytest.mark.parametrize("stage_days", [(5, Stage.EARLY), (47, Stage.MID), (120, Stage.LATE)])
def test_every_proposal_keeps_the_stage_bounds(policy, stage_days):
    days, stage = stage_days
    rules = policy.rules_for(stage)
    for proposal in propose(snapshot(days_past_due=days), policy, AS_OF):
        plan = proposal.plan
        assert plan.kind is PlanKind.PAY_IN_FULL or plan.kind in rules.plan_kinds
        if plan.kind.is_installment_plan:
            assert plan.frequency in rules.frequencies
            assert 2 <= len(plan.installments) <= rules.bounds.max_term(plan.kind)


def test_nothing_is_recommended_that_the_budget_cannot_carry(policy):
    broke = Statement(net_monthly_income=3_000_000, housing=3_200_000)
    proposals = propose(snapshot(), policy, AS_OF, broke)
    assert proposals
    assert all(p.affordable is False for p in proposals)
    assert not any(Label.RECOMMENDED in p.labels for p in proposals)
