"""The combined plan's split rule (negotiation.allocation): examples, then properties.

Every property is checked against exact fractions computed here, not the module's own
helpers: parts sum exactly, none is negative, none above what is due (except an
overpayment's, and then none above what is owed), each within one minor unit of its
exact share, and refunds never take back more than a loan got. Amounts are drawn in
Taiwan dollars (a TWD plan's installments are whole dollars: 100 minor units) and in
currencies charged to the cent (step 1).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from negotiation import Currency, PolicyError, load_policy, read_overrides
from negotiation.allocation import (
    AllocationError,
    CombineRefusal,
    apportion,
    combine_refusals,
    combined_installments,
    combined_schedule,
    split_payment,
    split_refund,
    split_schedule,
)

# --- examples ---------------------------------------------------------------------------


def test_a_payment_of_the_whole_installment_pays_each_loan_its_due():
    assert split_payment(1_500_000, [1_000_000, 500_000], [6_000_000, 3_000_000]) == (
        1_000_000,
        500_000,
    )


def test_a_short_payment_leaves_each_loan_equally_behind():
    # Two thirds of each due: 200 of 300 on a plan due 200 + 100.
    assert split_payment(200, [200, 100], [1000, 1000]) == (133, 67)


def test_leftover_units_go_to_the_largest_remainders_then_to_the_first_loan():
    # 10 / 3 each: 3.33..., one unit left over, ties broken by position.
    assert apportion(10, [5, 5, 5]) == (4, 3, 3)
    # 10 * 1/6 = 1.67, 10 * 2/6 = 3.33, 10 * 3/6 = 5: the 0.67 remainder wins.
    assert apportion(10, [10, 20, 30]) == (2, 3, 5)


def test_a_loan_due_nothing_gets_nothing_below_the_combined_due():
    assert split_payment(50, [0, 100], [500, 500]) == (0, 50)


def test_an_overpayment_pays_every_due_then_the_balances_beyond_them():
    # Dues 100 + 100; beyond them the loans owe 900 and 100: the extra 100 goes 90 / 10.
    assert split_payment(300, [100, 100], [1000, 200]) == (190, 110)


def test_more_than_the_loans_owe_together_is_refused():
    with pytest.raises(AllocationError):
        split_payment(1201, [100, 100], [1000, 200])


@pytest.mark.parametrize(
    ("amount", "due", "outstanding"),
    [
        (-1, [1], [1]),
        (1, [-1], [1]),
        (1, [2], [1]),
        (1, [1, 1], [1]),
        (True, [1], [1]),
    ],
)
def test_nonsense_is_refused(amount, due, outstanding):
    with pytest.raises(AllocationError):
        split_payment(amount, due, outstanding)


def test_refunds_reverse_the_payment_in_its_proportions_and_the_rest_exactly():
    paid = split_payment(1000, [600, 300, 100], [600, 300, 100])
    first = split_refund(500, paid)
    assert first == (300, 150, 50)
    second = split_refund(333, paid, first)
    refunded = tuple(a + b for a, b in zip(first, second, strict=True))
    rest = split_refund(1000 - 833, paid, refunded)
    assert tuple(a + b for a, b in zip(refunded, rest, strict=True)) == paid
    with pytest.raises(AllocationError):
        split_refund(1, paid, paid)


def test_a_combined_schedule_keeps_twd_installments_to_whole_dollars_but_the_last():
    dates = [date(2027, 1, 5), date(2027, 2, 5), date(2027, 3, 5)]
    schedule = combined_schedule([1_000_050, 500_025], dates, Currency.TWD.installment_step)
    assert schedule.combined == (500_000, 500_000, 500_075)
    for amounts in schedule.per_loan:
        assert all(amount % 100 == 0 for amount in amounts[:-1])
    assert [sum(amounts) for amounts in schedule.per_loan] == [1_000_050, 500_025]
    # 5,000 dollars split 2 : 1 is 3,333.33 and 1,666.67: the larger remainder wins.
    assert schedule.due_on(0) == (333_300, 166_700)


def test_combined_installments_sum_the_loans_on_each_date():
    jan, feb, mar = date(2027, 1, 5), date(2027, 2, 5), date(2027, 3, 5)
    assert combined_installments([[(jan, 100), (feb, 100)], [(feb, 50), (mar, 50)]]) == (
        (jan, 100),
        (feb, 150),
        (mar, 50),
    )


def test_the_policy_allows_a_combined_plan_of_a_few_loans_in_one_currency():
    rules = load_policy().combined_plans
    assert combine_refusals(rules, "TW", ["TWD", "TWD"], ["a", "b"]) == ()
    assert combine_refusals(rules, "TW", ["TWD", "CNY"]) == (CombineRefusal.MIXED_CURRENCIES,)
    assert combine_refusals(rules, "TW", ["TWD"]) == (CombineRefusal.TOO_FEW_LOANS,)
    assert combine_refusals(rules, "TW", ["TWD"] * 5) == (CombineRefusal.TOO_MANY_LOANS,)
    assert combine_refusals(rules, "TW", ["TWD"] * 2, ["a", "a"]) == (
        CombineRefusal.SAME_LOAN_TWICE,
    )


def test_a_market_can_be_closed_to_combined_plans():
    policy = load_policy({"combined_plans": {"allowed": {"HK": False}, "max_loans": 2}})
    rules = policy.combined_plans
    assert rules.allowed == {"TW": True, "CN": True, "HK": False}
    assert combine_refusals(rules, "HK", ["HKD", "HKD"]) == (CombineRefusal.NOT_ALLOWED,)
    assert combine_refusals(rules, "TW", ["TWD"] * 3) == (CombineRefusal.TOO_MANY_LOANS,)
    # A market the policy does not name is never allowed.
    assert not rules.allows("US")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"combined_plans": 3}, "combined_plans"),
        ({"combined_plans": {"max_loans": 1}}, "combined_plans.max_loans"),
        ({"combined_plans": {"max_loans": 11}}, "combined_plans.max_loans"),
        ({"combined_plans": {"max_loans": "4"}}, "combined_plans.max_loans"),
        ({"combined_plans": {"max_loans": True}}, "combined_plans.max_loans"),
        ({"combined_plans": {"allowed": True}}, "combined_plans.allowed"),
        ({"combined_plans": {"allowed": {"TW": "yes"}}}, "combined_plans.allowed.TW"),
        ({"combined_plans": {"allowed": {"JP": True}}}, "combined_plans.allowed.JP"),
    ],
)
def test_the_policy_refuses_nonsense_naming_the_key(overrides, key):
    with pytest.raises(PolicyError, match=f"^{re.escape(key)}:"):
        load_policy(overrides)


def test_same_currency_is_no_setting():
    with pytest.raises(PolicyError, match=r"^combined_plans\.same_currency:"):
        read_overrides("[combined_plans]\nsame_currency = false\n")


# --- properties -------------------------------------------------------------------------

# Steps: a TWD plan's installments are whole dollars (100 minor units); CNY, HKD and USD
# are charged to the cent (1).
STEPS = st.sampled_from([Currency.TWD.installment_step, Currency.USD.installment_step])
AMOUNT = st.integers(min_value=0, max_value=10**12)
SMALL = st.integers(min_value=0, max_value=500)


def loans(amounts=AMOUNT):
    """(due, outstanding) per loan, 1 to 6 loans, outstanding at least the due."""
    return st.lists(
        st.tuples(amounts, amounts).map(lambda pair: (pair[0], pair[0] + pair[1])),
        min_size=1,
        max_size=6,
    )


def within_one_unit(parts, total, weights):
    whole = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total * weight, whole)
        assert abs(part - exact) < 1


@st.composite
def payments(draw, amounts=AMOUNT):
    """Loans and a payment from nothing to everything they owe: in Taiwan dollars
    (whole dollars, dues and payment multiples of 100 minor units) or to the cent."""
    step = draw(STEPS)
    pairs = draw(loans(amounts))
    due = [d * step for d, _ in pairs]
    outstanding = [o * step for _, o in pairs]
    amount = draw(st.integers(min_value=0, max_value=sum(outstanding) // step)) * step
    return amount, due, outstanding


def check_payment(amount, due, outstanding):
    parts = split_payment(amount, due, outstanding)
    assert sum(parts) == amount
    assert all(part >= 0 for part in parts)
    assert all(p <= o for p, o in zip(parts, outstanding, strict=True))
    combined = sum(due)
    if amount <= combined:
        assert all(p <= d for p, d in zip(parts, due, strict=True))
        if combined:
            within_one_unit(parts, amount, due)
    else:
        # Every due paid whole; the rest in proportion to what is owed beyond the dues.
        assert all(p >= d for p, d in zip(parts, due, strict=True))
        beyond = [o - d for d, o in zip(due, outstanding, strict=True)]
        extra = [p - d for p, d in zip(parts, due, strict=True)]
        within_one_unit(extra, amount - combined, beyond)
    return parts


@settings(max_examples=400)
@given(payments())
@example((0, [0], [0]))
@example((100, [1, 1, 1], [1, 1, 98]))
def test_a_payment_splits_exactly_and_never_pays_a_loan_more_than_due(case):
    check_payment(*case)


@settings(max_examples=200)
@given(payments(SMALL))
def test_small_payments_split_exactly_too(case):
    # Small amounts make the ties and the leftover units common.
    check_payment(*case)


@given(payments(), st.integers(min_value=1, max_value=10**6))
def test_more_than_is_owed_is_always_refused(case, more):
    _, due, outstanding = case
    with pytest.raises(AllocationError):
        split_payment(sum(outstanding) + more, due, outstanding)


@settings(max_examples=300)
@given(payments(), st.lists(st.integers(min_value=0, max_value=10**12), max_size=6), st.data())
def test_refunds_in_any_sequence_never_take_back_more_than_was_paid(case, wishes, data):
    parts = split_payment(*case)
    refunded = [0] * len(parts)
    for wish in wishes:
        left = sum(parts) - sum(refunded)
        amount = min(wish, left)
        back = split_refund(amount, parts, refunded)
        assert sum(back) == amount
        assert all(b >= 0 for b in back)
        held = [p - r for p, r in zip(parts, refunded, strict=True)]
        assert all(b <= h for b, h in zip(back, held, strict=True))
        if sum(held):
            within_one_unit(back, amount, held)
        refunded = [r + b for r, b in zip(refunded, back, strict=True)]
        assert all(r <= p for r, p in zip(refunded, parts, strict=True))
    # Refunding what is left returns each loan's part exactly.
    rest = split_refund(sum(parts) - sum(refunded), parts, refunded)
    assert [r + b for r, b in zip(refunded, rest, strict=True)] == list(parts)
    if sum(parts) > sum(refunded):
        with pytest.raises(AllocationError):
            split_refund(sum(parts) - sum(refunded) + 1, parts, refunded)


@settings(max_examples=200)
@given(payments())
def test_a_first_refund_is_in_the_payments_own_proportions(case):
    parts = split_payment(*case)
    if sum(parts):
        amount = sum(parts) // 2
        within_one_unit(split_refund(amount, parts), amount, parts)


@st.composite
def schedules(draw):
    outstanding = draw(st.lists(AMOUNT | SMALL, min_size=1, max_size=6))
    count = draw(st.integers(min_value=1, max_value=24))
    first = draw(st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31)))
    gaps = draw(st.lists(st.integers(1, 31), min_size=count - 1, max_size=count - 1))
    dates = [first]
    for gap in gaps:
        dates.append(dates[-1] + timedelta(days=gap))
    return outstanding, dates, draw(STEPS)


@settings(max_examples=300)
@given(schedules())
def test_a_combined_schedule_sums_exactly_per_loan_and_per_date(case):
    outstanding, dates, step = case
    plan = combined_schedule(outstanding, dates, step)
    assert plan.dates == tuple(dates)
    assert sum(plan.combined) == sum(outstanding)
    # The combined installments are even, to the step, the remainder on the last.
    assert all(amount % step == 0 for amount in plan.combined[:-1])
    assert len(set(plan.combined[:-1])) <= 1
    assert len(plan.per_loan) == len(outstanding)
    for amounts, owed in zip(plan.per_loan, outstanding, strict=True):
        assert len(amounts) == len(dates)
        assert sum(amounts) == owed
        assert all(amount >= 0 for amount in amounts)
    for index, amount in enumerate(plan.combined):
        assert sum(plan.due_on(index)) == amount
    # Paying each installment as due pays each loan its own due.
    for index, amount in enumerate(plan.combined):
        due = plan.due_on(index)
        left = [
            sum(amounts[index:]) for amounts in plan.per_loan
        ]  # what each loan owes before this installment
        assert split_payment(amount, due, left) == due
    # Summing the loans' own schedules gives the combined installments back.
    per_loan = [list(zip(dates, amounts, strict=True)) for amounts in plan.per_loan]
    assert combined_installments(per_loan) == tuple(zip(dates, plan.combined, strict=True))


@settings(max_examples=200)
@given(
    st.lists(AMOUNT, min_size=1, max_size=6).flatmap(
        lambda owed: st.tuples(
            st.just(owed),
            st.lists(AMOUNT, min_size=1, max_size=12).map(
                lambda cuts: sorted(c % (sum(owed) + 1) for c in cuts)
            ),
        )
    ),
    STEPS,
)
def test_any_combined_installments_split_exactly(case, step):
    # Installments of any sizes (the cuts of the total), not only even ones.
    owed, cuts = case
    bounds = [0, *cuts, sum(owed)]
    combined = [b - a for a, b in pairwise(bounds)]
    per_loan = split_schedule(owed, combined, step)
    assert [sum(amounts) for amounts in per_loan] == owed
    for index, amount in enumerate(combined):
        assert sum(amounts[index] for amounts in per_loan) == amount
    assert all(a >= 0 for amounts in per_loan for a in amounts)


def test_a_schedule_whose_installments_do_not_sum_to_the_arrears_is_refused():
    with pytest.raises(AllocationError):
        split_schedule([100, 100], [150, 49])
    with pytest.raises(AllocationError):
        combined_schedule([100], [date(2027, 2, 1), date(2027, 1, 1)])
