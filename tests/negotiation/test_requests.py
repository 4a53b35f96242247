from datetime import date, timedelta

import pytest

from negotiation import (
    Arrears,
    Frequency,
    PlanKind,
    PlanRequest,
    RejectionReason,
    Statement,
    evaluate_request,
    load_policy,
)

from .conftest import AS_OF, snapshot

R = RejectionReason


def request(**changes):
    values = {
        "kind": PlanKind.ARREARS_PLAN,
        "first_due_date": AS_OF + timedelta(days=3),
        "installments": 6,
        "frequency": Frequency.MONTHLY,
    }
    values.update(changes)
    return PlanRequest(**values)


def refusal(decision):
    return [(r.reason, r.nearest) for r in decision.rejections]


def test_an_allowed_request_comes_back_as_a_schedule(policy):
    decision = evaluate_request(snapshot(), policy, AS_OF, request(down_payment=300_000))
    assert decision.accepted
    plan = decision.proposal.plan
    assert plan.installments[0].amount == 300_000
    assert plan.first_due_date == date(2026, 12, 3)
    assert len(plan.installments) == 6
    assert plan.total == 1_695_000 - 22_500
    assert decision.rejections == ()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"installments": 13}, [(R.TERM_TOO_LONG, 12)]),
        ({"installments": 1}, [(R.TERM_TOO_SHORT, 2)]),
        ({"first_due_date": AS_OF - timedelta(days=1)}, [(R.FIRST_PAYMENT_IN_PAST, AS_OF)]),
        ({"first_due_date": date(2026, 12, 15)}, [(R.FIRST_PAYMENT_TOO_LATE, date(2026, 12, 14))]),
        ({"down_payment": 100_000}, [(R.DOWN_PAYMENT_TOO_LOW, 169_500)]),
        ({"down_payment": 1_672_500}, [(R.DOWN_PAYMENT_TOO_HIGH, 1_672_500 - 5 * 100_000)]),
        # NT$16,725 over 12 at the NT$1,000 minimum would be fine; over 12 with
        # NT$15,000 down leaves NT$157.5 a month, below the minimum: at most 2 then.
        ({"installments": 12, "down_payment": 1_500_000}, [(R.INSTALLMENT_BELOW_MINIMUM, 2)]),
    ],
)
def test_each_refusal_names_its_reason_and_the_nearest_allowed_value(policy, changes, expected):
    decision = evaluate_request(snapshot(), policy, AS_OF, request(**changes))
    assert not decision.accepted
    assert refusal(decision) == expected


def test_the_nearest_values_are_themselves_accepted(policy):
    for changes in (
        {"installments": 13},
        {"first_due_date": date(2027, 1, 31)},
        {"down_payment": 1},
    ):
        first = evaluate_request(snapshot(), policy, AS_OF, request(**changes))
        (rejection,) = first.rejections
        field = {
            R.TERM_TOO_LONG: "installments",
            R.FIRST_PAYMENT_TOO_LATE: "first_due_date",
            R.DOWN_PAYMENT_TOO_LOW: "down_payment",
        }[rejection.reason]
        again = evaluate_request(
            snapshot(), policy, AS_OF, request(**{**changes, field: rejection.nearest})
        )
        assert again.accepted, (changes, again.rejections)


def test_several_problems_are_reported_together(policy):
    decision = evaluate_request(
        snapshot(restructures_last_12_months=1),
        policy,
        AS_OF,
        request(kind=PlanKind.RESTRUCTURE, installments=40, first_due_date=date(2027, 2, 1)),
    )
    assert [r.reason for r in decision.rejections] == [
        R.TOO_MANY_RESTRUCTURES,
        R.FIRST_PAYMENT_TOO_LATE,
        R.TERM_TOO_LONG,
    ]


def test_a_kind_the_stage_does_not_allow(policy):
    decision = evaluate_request(
        snapshot(days_past_due=10), policy, AS_OF, request(kind=PlanKind.RESTRUCTURE)
    )
    assert refusal(decision) == [(R.KIND_NOT_ALLOWED, None), (R.TERM_TOO_LONG, None)]


def test_a_frequency_the_stage_does_not_allow(policy):
    decision = evaluate_request(
        snapshot(days_past_due=120), policy, AS_OF, request(frequency=Frequency.WEEKLY)
    )
    assert refusal(decision) == [(R.FREQUENCY_NOT_ALLOWED, None)]


def test_an_unaffordable_plan_is_refused_with_the_fastest_affordable_term(policy):
    statement = Statement(net_monthly_income=2_100_000, housing=900_000, food=400_000)
    loan = snapshot(days_past_due=20, regular_installment=300_000)
    decision = evaluate_request(loan, policy, AS_OF, request(installments=3), statement)
    assert refusal(decision) == [(R.NOT_AFFORDABLE, 5)]
    assert decision.plan is not None  # the borrower can still see what they asked for
    assert evaluate_request(loan, policy, AS_OF, request(installments=5), statement).accepted


def test_no_term_is_affordable_when_nothing_is_left_over(policy):
    statement = Statement(net_monthly_income=1_000_000, housing=1_000_000)
    decision = evaluate_request(snapshot(), policy, AS_OF, request(), statement)
    assert refusal(decision) == [(R.NOT_AFFORDABLE, None)]


def test_without_a_statement_affordability_is_not_judged(policy):
    decision = evaluate_request(snapshot(), policy, AS_OF, request(installments=2))
    assert decision.accepted
    assert decision.proposal.affordable is None


def test_a_promise_to_pay_within_fourteen_days(policy):
    promise = request(kind=PlanKind.DEFERRAL, first_due_date=date(2026, 12, 14))
    assert evaluate_request(snapshot(), policy, AS_OF, promise).accepted
    too_late = request(kind=PlanKind.DEFERRAL, first_due_date=date(2026, 12, 15))
    decision = evaluate_request(snapshot(), policy, AS_OF, too_late)
    assert refusal(decision) == [(R.FIRST_PAYMENT_TOO_LATE, date(2026, 12, 14))]


def test_agent_only_stages_refuse_self_service(policy):
    agent_only = load_policy({"stage": {"mid": {"self_service": False}}})
    decision = evaluate_request(snapshot(), agent_only, AS_OF, request())
    assert refusal(decision) == [(R.SELF_SERVICE_NOT_ALLOWED, None)]
    pay = request(kind=PlanKind.PAY_IN_FULL, first_due_date=AS_OF)
    assert evaluate_request(snapshot(), agent_only, AS_OF, pay).accepted


def test_nothing_overdue(policy):
    decision = evaluate_request(
        snapshot(days_past_due=0, arrears=Arrears()), policy, AS_OF, request()
    )
    assert refusal(decision) == [(R.NOTHING_OVERDUE, None)]


def test_everything_waived_leaves_nothing_to_plan(policy):
    penalties_only = snapshot(days_past_due=5, arrears=Arrears(penalties=500_000))
    decision = evaluate_request(penalties_only, policy, AS_OF, request())
    assert refusal(decision) == [(R.INSTALLMENT_BELOW_MINIMUM, None)]
