"""``propose`` against the way it used to work: every candidate judged by ``judge``, every
search over full schedules, every level payment in Decimal.

``propose`` now judges the stage's own terms directly, shares schedules across
frequencies and decides most search steps from a schedule's outline (its first, level and
last installments) with a float estimate of each level payment; none of that may change a
single proposal. The reference below is the engine before that work, written with the
public pieces (``judge``, ``schedule_amounts``), and must agree with it on any case the
property tests draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from negotiation import (
    Arrears,
    Currency,
    Frequency,
    LoanSnapshot,
    Plan,
    PlanKind,
    Proposal,
    Stage,
    Terms,
    add_months,
    due_dates,
    load_policy,
)
from negotiation.affordability import assess
from negotiation.plans import (
    FLOAT_DOUBT,
    ZERO,
    amortize_with,
    level_payment,
    payable_under,
    schedule_amounts,
)
from negotiation.proposals import KIND_ORDER, Label
from negotiation.reasons import RejectionReason
from negotiation.rules import (
    Context,
    Schedules,
    amounts_fit,
    below_minimum,
    first_installment_floor,
    fits_statement,
    judge,
    regular_per_period,
)
from tests.negotiation.test_properties import Case, cases

REFERENCE = settings(max_examples=400, deadline=None)


def _last_true(test: Callable[[int], bool], low: int, high: int) -> int | None:
    if high < low or not test(low):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if test(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _first_true(test: Callable[[int], bool], low: int, high: int) -> int | None:
    if high < low or not test(high):
        return None
    while low < high:
        middle = (low + high) // 2
        if test(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _stage_terms(
    context: Context,
    kind: PlanKind,
    first: date,
    installments: int = 1,
    frequency: Frequency = Frequency.MONTHLY,
) -> Terms:
    rules = context.rules
    deferral = kind is PlanKind.DEFERRAL
    return Terms(
        kind=kind,
        first_due_date=first,
        installments=installments,
        frequency=frequency,
        penalty_waiver_pct=ZERO if deferral else rules.max_penalty_waiver_pct,
        fee_waiver_pct=ZERO if deferral else rules.max_fee_waiver_pct,
        settlement_discount_pct=rules.settlement_discount_cap_pct,
        interest_rate_pct=rules.plan_interest_rate_pct,
    )


def _plan_candidates(context: Context, kind: PlanKind, frequency: Frequency) -> list[Terms]:
    bounds = context.rules.bounds
    template = _stage_terms(context, kind, context.today, installments=2, frequency=frequency)
    floor = first_installment_floor(context, bounds, kind)
    snapshot, minimum = context.snapshot, context.minimum_installment
    payable = payable_under(snapshot, template)

    def keeps_minimum(count: int) -> bool:
        amounts = schedule_amounts(snapshot, template, floor, payable, count)
        return not below_minimum(amounts, minimum)

    longest = _last_true(keeps_minimum, 2, bounds.max_term(kind))
    if longest is None:
        return []
    fastest = None
    assessment = context.assessment
    if assessment is not None:

        def affordable(count: int) -> bool:
            amounts = schedule_amounts(snapshot, template, floor, payable, count)
            return amounts_fit(snapshot, kind, frequency, amounts, assessment)

        fastest = _first_true(affordable, 2, longest)
    counts = dict.fromkeys(count for count in (fastest, longest) if count is not None)
    return [replace(template, installments=count) for count in counts]


def _burden(context: Context, plan: Plan) -> int:
    if len(plan.installments) == 1:
        return plan.total
    regular = regular_per_period(context.snapshot, plan.kind, plan.frequency)
    return (plan.typical_installment + regular) * plan.frequency.periods_per_year // 12


def reference_propose(case: Case) -> tuple[Proposal, ...]:
    """The engine's proposals as they were worked out before it was made faster."""
    snapshot, policy, today, statement = case.snapshot, case.policy, case.today, case.statement
    rules = policy.rules_for(policy.stage_for(snapshot.days_past_due))
    if rules is None or snapshot.arrears.total == 0:
        return ()
    assessment = assess(statement, policy, snapshot.currency) if statement else None
    context = Context(snapshot, policy, rules, today, assessment)
    kinds = (
        [kind for kind in KIND_ORDER if rules.bounds.allows(kind)]
        if rules.self_service
        else [PlanKind.PAY_IN_FULL]
    )
    candidates: list[Terms] = []
    for kind in kinds:
        if kind is PlanKind.DEFERRAL:
            latest = today + timedelta(days=policy.max_deferral_days)
            candidates.append(_stage_terms(context, kind, latest))
        elif not kind.is_installment_plan:
            candidates.append(_stage_terms(context, kind, today))
        else:
            for frequency in rules.frequencies:
                candidates += _plan_candidates(context, kind, frequency)
    found: dict[tuple[PlanKind, Frequency, int], Proposal] = {}
    for terms in candidates:
        plan, rejections = judge(context, terms, rules.bounds)
        if plan is None or any(r.reason is not RejectionReason.NOT_AFFORDABLE for r in rejections):
            continue
        affordable = None if assessment is None else fits_statement(snapshot, plan, assessment)
        conditional = (
            rules.conditional_waivers
            and plan.kind in (PlanKind.DEFERRAL, PlanKind.ARREARS_PLAN, PlanKind.RESTRUCTURE)
            and plan.waiver.total > 0
        )
        key = (plan.kind, plan.frequency, len(plan.installments))
        found.setdefault(key, Proposal(plan, affordable, conditional, _burden(context, plan)))
    ranked = sorted(
        found.values(),
        key=lambda p: (
            p.affordable is False,
            p.plan.last_due_date,
            p.monthly_burden,
            KIND_ORDER.index(p.plan.kind),
        ),
    )
    if not ranked:
        return ()
    labels: list[set[Label]] = [set() for _ in ranked]
    if ranked[0].affordable is not False:
        labels[0].add(Label.RECOMMENDED)
    if assessment is not None and ranked[0].affordable:
        labels[0].add(Label.FASTEST_AFFORDABLE)
    plans_only = [i for i, p in enumerate(ranked) if len(p.plan.installments) > 1]
    if plans_only:
        labels[min(plans_only, key=lambda i: (ranked[i].monthly_burden, i))].add(
            Label.LOWEST_INSTALLMENT
        )
    return tuple(replace(p, labels=frozenset(labels[i])) for i, p in enumerate(ranked))


@REFERENCE
@given(case=cases())
def test_propose_is_what_judging_every_candidate_gives(case: Case) -> None:
    assert case.proposals() == reference_propose(case)


# --- Level payments and amortization, against plain Decimal and the plain loop ------------


def decimal_level_payment(principal: int, periods: int, rate: Decimal, step: int) -> int:
    factor = (1 + rate) ** periods
    value = Decimal(principal) / periods
    if rate != 0 and factor != 1:
        value = Decimal(principal) * rate * factor / (factor - 1)
    return int((value / step).to_integral_value(ROUND_CEILING)) * step


PERIODIC_RATES = st.one_of(
    st.sampled_from(["0.05", "0.125", "0.36", "1", "0.0725", "1E-30", "0.999"]).map(Decimal),
    st.decimals(min_value=Decimal("1E-9"), max_value=Decimal(1), places=12),
).flatmap(lambda annual: st.sampled_from([12, 26, 52]).map(lambda per_year: annual / per_year))


@settings(max_examples=2000, deadline=None)
@given(
    principal=st.one_of(st.integers(0, 10**6), st.integers(0, 10**13), st.integers(0, 10**17)),
    periods=st.integers(1, 600),
    rate=PERIODIC_RATES,
    step=st.sampled_from([1, 100]),
)
@example(principal=2**53 + 1, periods=12, rate=Decimal("0.05") / 12, step=1)
def test_level_payment_is_decimals(principal: int, periods: int, rate: Decimal, step: int) -> None:
    assert level_payment(principal, periods, rate, step) == decimal_level_payment(
        principal, periods, rate, step
    )


def plain_amortize(
    principal: int, periods: int, rate: Decimal, payment: int, step: int
) -> list[int]:
    numerator, denominator = rate.as_integer_ratio()
    denominator *= step
    balance, amounts = principal, []
    for period in range(periods):
        interest = (2 * balance * numerator + denominator) // (2 * denominator) * step
        amount = balance + interest if period == periods - 1 else payment
        amounts.append(amount)
        balance += interest - amount
    return amounts


@settings(max_examples=1000, deadline=None)
@given(
    principal=st.integers(0, 10**13),
    periods=st.integers(0, 120),
    rate=PERIODIC_RATES,
    payment=st.integers(0, 10**12),
    step=st.sampled_from([1, 100]),
)
def test_amortize_with_is_the_plain_loop(
    principal: int, periods: int, rate: Decimal, payment: int, step: int
) -> None:
    assert amortize_with(principal, periods, rate, payment, step) == plain_amortize(
        principal, periods, rate, payment, step
    )


def test_the_float_doubt_is_far_wider_than_a_floats_error() -> None:
    # A level payment's estimate takes four float operations, each within half an ulp.
    assert math.ulp(1.0) * 4 * 100 < FLOAT_DOUBT


@settings(max_examples=1000, deadline=None)
@given(
    first=st.dates(date(1900, 1, 1), date(2400, 12, 31)),
    count=st.integers(-2, 120),
    frequency=st.sampled_from(Frequency),
)
def test_due_dates_are_add_months(first: date, count: int, frequency: Frequency) -> None:
    if frequency is Frequency.MONTHLY:
        expected = [add_months(first, k, first.day) for k in range(count)]
    else:
        step = timedelta(days=14 if frequency is Frequency.BIWEEKLY else 7)
        expected = [first + step * k for k in range(count)]
    assert due_dates(first, count, frequency) == expected


# --- A search skipped only when its answer is known ------------------------------------------


@settings(max_examples=1500, deadline=None)
@given(
    payable=st.one_of(st.integers(0, 10**5), st.integers(0, 10**9), st.integers(0, 10**15)),
    floor=st.one_of(st.integers(0, 10**4), st.integers(0, 10**8)),
    minimum=st.one_of(st.integers(1, 10**3), st.integers(1, 10**6)),
    down=st.one_of(st.none(), st.integers(-10, 10**8)),
    kind=st.sampled_from([PlanKind.ARREARS_PLAN, PlanKind.RESTRUCTURE]),
    annual=st.sampled_from(["0", "0.0001", "1", "5", "12.5", "36", "99", "1E-20"]).map(Decimal),
    frequency=st.sampled_from(Frequency),
    currency=st.sampled_from([Currency.TWD, Currency.USD]),
    most=st.integers(3, 120),
)
@example(
    payable=6_000_000,
    floor=120_000,
    minimum=100_000,
    down=None,
    kind=PlanKind.RESTRUCTURE,
    annual=Decimal(5),
    frequency=Frequency.MONTHLY,
    currency=Currency.TWD,
    most=60,
)
def test_the_longest_term_is_the_searchs_when_every_term_keeps(
    payable: int,
    floor: int,
    minimum: int,
    down: int | None,
    kind: PlanKind,
    annual: Decimal,
    frequency: Frequency,
    currency: Currency,
    most: int,
) -> None:
    # Schedules.longest answers "the most allowed" without searching when bounds show
    # that every term keeps the minimum: then every term must, and the answer must be
    # what the search over full schedules finds.
    policy = load_policy()
    rules = policy.rules_for(Stage.MID)
    assert rules is not None
    rules = replace(rules, minimum_installment={currency: minimum})
    snapshot = LoanSnapshot(
        as_of=date(2026, 11, 30),
        currency=currency,
        arrears=Arrears(principal=max(payable, 1)),
        not_yet_due_principal=0,
        regular_installment=0,
        days_past_due=40,
    )
    context = Context(snapshot, policy, rules, date(2026, 11, 30), None)
    terms = Terms(
        kind, date(2026, 12, 1), 2, frequency, down_payment=down, interest_rate_pct=annual
    )
    schedules = Schedules(context, terms, floor, payable)

    def keeps(count: int) -> bool:
        amounts = schedule_amounts(snapshot, terms, floor, payable, count)
        return not below_minimum(amounts, minimum)

    if schedules._all_keep(most):
        assert all(keeps(count) for count in range(2, most + 1))
    assert schedules.longest(most) == _last_true(keeps, 2, most)
