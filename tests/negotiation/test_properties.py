"""Property tests: the negotiation engine's invariants, for any loan, statement and policy.

Every loan is drawn in all four currencies, from a day overdue to more than a year, with
arrears from nothing to billions; policies are the default, a few hand-written overrides
and random ones. Each invariant is checked independently of the engine's own helpers:
caps, affordability and windows are recomputed here from the raw numbers.
"""

from __future__ import annotations

import calendar
import functools
import json
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from negotiation import (
    Arrears,
    Authority,
    Bounds,
    Currency,
    EventKind,
    Frequency,
    Hold,
    LoanSnapshot,
    Plan,
    PlanKind,
    PlanRequest,
    Policy,
    Proposal,
    RejectionReason,
    Stage,
    StageRules,
    Statement,
    Terms,
    add_months,
    due_dates,
    evaluate_request,
    judge_offer,
    load_policy,
    propose,
    split_evenly,
    timeline,
)

# Examples per test: the whole file stays well under the time budget on two cores.
PROPERTY = settings(max_examples=300, deadline=None)
CHEAP = settings(max_examples=500, deadline=None)

SINGLE_PAYMENTS = (PlanKind.PAY_IN_FULL, PlanKind.DEFERRAL, PlanKind.SETTLEMENT)
STAGE_EDGES = (0, 1, 2, 29, 30, 31, 32, 89, 90, 91, 92, 119, 120, 121, 400)


# --- Policies -------------------------------------------------------------------------------

ALL_KINDS = [kind.value for kind in PlanKind]
ALL_FREQUENCIES = [frequency.value for frequency in Frequency]

FIXED_OVERRIDES: tuple[dict[str, Any], ...] = (
    {},
    {"stage": {"mid": {"plan_interest_rate_pct": 0}}},
    {"stage": {"late": {"plan_interest_rate_pct": "12.5", "frequencies": ALL_FREQUENCIES}}},
    {"stages": {"early_from_days": 5, "mid_from_days": 20, "late_from_days": 60}},
    {
        "plans": {
            "affordability_ratio_pct": "12.5",
            "max_deferral_days": 30,
            "max_restructures_per_12_months": 2,
        }
    },
    {
        "stage": {
            "early": {
                "plan_kinds": ALL_KINDS,
                "max_restructure_installments": 24,
                "minimum_down_payment_pct": "33.3",
                "max_fee_waiver_pct": "12.5",
                "settlement_discount_cap_pct": 15,
                "plan_interest_rate_pct": "7.25",
            }
        }
    },
    {"stage": {"late": {"self_service": False}}},
    {
        "stage": {
            "mid": {
                "frequencies": ["weekly"],
                "max_days_to_first_payment": 0,
                "minimum_installment": {"TWD": 1, "CNY": 1, "HKD": 1, "USD": 1},
            }
        }
    },
    {
        "authority": {
            "agent": {
                "plan_kinds": ["pay_in_full"],
                "frequencies": ["monthly"],
                "max_installments": 2,
                "max_restructure_installments": 0,
                "max_days_to_first_payment": 0,
                "minimum_down_payment_pct": 100,
                "max_penalty_waiver_pct": 0,
                "max_fee_waiver_pct": 0,
                "settlement_discount_cap_pct": 0,
                "min_plan_interest_rate_pct": 100,
            }
        }
    },
)

PERCENTS = st.sampled_from(["0", "5", "10", "12.5", "20", "33.3", "50", "100"])
RATES = st.sampled_from(["0", "3", "5", "7.25", "12", "36"])


@st.composite
def stage_tables(draw: st.DrawFn) -> dict[str, Any]:
    """Overrides of some of one stage's keys."""
    optional: dict[str, st.SearchStrategy[Any]] = {
        "self_service": st.sampled_from([True, True, True, False]),
        "plan_kinds": st.lists(st.sampled_from(ALL_KINDS), min_size=1, max_size=5, unique=True),
        "frequencies": st.lists(
            st.sampled_from(ALL_FREQUENCIES), min_size=1, max_size=3, unique=True
        ),
        "max_installments": st.integers(2, 36),
        "max_restructure_installments": st.integers(0, 84),
        "minimum_installment": st.fixed_dictionaries(
            {currency.value: st.integers(1, 200_000) for currency in Currency}
        ),
        "minimum_down_payment_pct": PERCENTS,
        "max_days_to_first_payment": st.integers(0, 45),
        "max_penalty_waiver_pct": PERCENTS,
        "max_fee_waiver_pct": PERCENTS,
        "conditional_waivers": st.booleans(),
        "plan_interest_rate_pct": RATES,
        "settlement_discount_cap_pct": PERCENTS,
    }
    return {key: draw(strategy) for key, strategy in optional.items() if draw(st.booleans())}


@st.composite
def random_overrides(draw: st.DrawFn) -> dict[str, Any]:
    """A random valid policy: thresholds, plan settings and every stage's bounds."""
    early = draw(st.integers(1, 40))
    mid = draw(st.integers(early + 1, early + 90))
    late = draw(st.integers(mid + 1, mid + 150))
    return {
        "stages": {"early_from_days": early, "mid_from_days": mid, "late_from_days": late},
        "consequences": {
            "credit_report_days": draw(st.integers(1, 200)),
            "legal_referral_days": draw(st.integers(1, 400)),
            "penalty_monthly_pct": draw(PERCENTS),
            "penalty_max_accruals": draw(st.integers(0, 24)),
        },
        "plans": {
            "affordability_ratio_pct": draw(PERCENTS),
            "max_restructures_per_12_months": draw(st.integers(0, 2)),
            "max_deferral_days": draw(st.integers(1, 30)),
            "grace_days": draw(st.integers(0, 10)),
        },
        "stage": {name: draw(stage_tables()) for name in ("early", "mid", "late")},
    }


OVERRIDES = st.one_of(st.sampled_from(FIXED_OVERRIDES), random_overrides())


@functools.cache
def _policy(key: str) -> Policy:
    return load_policy(json.loads(key))


def policy_from(overrides: dict[str, Any]) -> Policy:
    """The default policy with ``overrides`` laid over it (cached: policies are reused)."""
    return _policy(json.dumps(overrides, sort_keys=True))


# --- Loans and statements -------------------------------------------------------------------

# From nothing, through amounts near the minimum installments, to billions.
AMOUNTS = st.one_of(
    st.just(0),
    st.integers(1, 5_000),
    st.integers(5_000, 2_000_000),
    st.integers(2_000_000, 10**9),
    st.integers(10**9, 10**13),
)
DAYS_PAST_DUE = st.one_of(st.integers(0, 400), st.sampled_from(STAGE_EDGES))


@st.composite
def snapshots(draw: st.DrawFn) -> LoanSnapshot:
    """A loan on one day: any currency, days past due 0..400, any arrears and holds."""
    days = draw(DAYS_PAST_DUE)
    arrears = Arrears(
        principal=draw(AMOUNTS),
        interest=draw(AMOUNTS),
        fees=draw(AMOUNTS),
        penalties=draw(AMOUNTS),
    )
    if days > 0 and arrears.total == 0:
        arrears = replace(arrears, principal=draw(st.integers(1, 10**7)))
    return LoanSnapshot(
        as_of=draw(st.dates(date(2000, 1, 1), date(2099, 12, 31))),
        currency=draw(st.sampled_from(Currency)),
        arrears=arrears,
        not_yet_due_principal=draw(AMOUNTS),
        regular_installment=draw(AMOUNTS),
        days_past_due=days,
        frequency=draw(st.sampled_from(Frequency)),
        restructures_last_12_months=draw(st.one_of(st.just(0), st.integers(0, 2))),
        holds=draw(st.frozensets(st.sampled_from(Hold))),
    )


EXPENSES = st.one_of(st.just(0), st.integers(0, 100_000), st.integers(0, 10**7))


@st.composite
def statements(draw: st.DrawFn) -> Statement:
    """A monthly income-and-expenditure statement, from destitute to very comfortable."""
    return Statement(
        net_monthly_income=draw(
            st.one_of(st.integers(0, 10**6), st.integers(10**6, 10**9), st.integers(0, 10**12))
        ),
        household_size=draw(st.integers(1, 20)),
        housing=draw(EXPENSES),
        utilities=draw(EXPENSES),
        food=draw(EXPENSES),
        transport=draw(EXPENSES),
        other_debt_payments=draw(EXPENSES),
        other=draw(EXPENSES),
    )


@dataclass(frozen=True)
class Case:
    """A loan, the policy it is under, the day it is looked at, and maybe a statement."""

    overrides: dict[str, Any]
    snapshot: LoanSnapshot
    today: date
    statement: Statement | None

    @property
    def policy(self) -> Policy:
        return policy_from(self.overrides)

    @property
    def rules(self) -> StageRules | None:
        return self.policy.rules_for(self.policy.stage_for(self.snapshot.days_past_due))

    def proposals(self) -> tuple[Proposal, ...]:
        return propose(self.snapshot, self.policy, self.today, self.statement)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    snapshot = draw(snapshots())
    later = draw(st.one_of(st.just(0), st.integers(0, 60)))
    return Case(
        overrides=draw(OVERRIDES),
        snapshot=snapshot,
        today=snapshot.as_of + timedelta(days=later),
        statement=draw(st.one_of(st.none(), statements())),
    )


def rules_of(case: Case) -> StageRules:
    rules = case.rules
    assert rules is not None, "a proposal or an acceptance for a loan with no stage rules"
    return rules


# --- Independent checks of one plan ---------------------------------------------------------


def floor_percent(amount: int, percent: Decimal) -> int:
    """``percent`` % of ``amount``, rounded down, in exact rational arithmetic."""
    return int(Fraction(amount) * Fraction(percent) / 100 // 1)


def check_arithmetic(plan: Plan) -> None:
    """Invariant 1: the money adds up exactly."""
    amounts = [item.amount for item in plan.installments]
    assert sum(amounts) == plan.total
    assert plan.total == plan.restructured - plan.waiver.total + plan.interest
    assert plan.waiver.total == plan.waiver.penalties + plan.waiver.fees + plan.waiver.discount
    if plan.interest_rate_pct == 0:
        assert plan.interest == 0
        assert plan.total + plan.waiver.total == plan.restructured
    assert plan.interest >= 0


def check_positive(plan: Plan) -> None:
    """Invariant 2: no installment is zero or negative."""
    assert plan.installments
    assert all(item.amount > 0 for item in plan.installments), plan.installments


def check_due_dates(plan: Plan, today: date, max_days: int, deferral_days: int) -> None:
    """Invariant 3: due dates strictly increase and the first falls inside its window."""
    dates = [item.due_date for item in plan.installments]
    assert all(earlier < later for earlier, later in pairwise(dates)), dates
    window = deferral_days if plan.kind is PlanKind.DEFERRAL else max_days
    assert today <= dates[0] <= today + timedelta(days=window)


def check_count(plan: Plan, bounds: Bounds) -> None:
    """Invariant 4: one payment, or between 2 and the bounds' longest term."""
    count = len(plan.installments)
    if plan.kind in SINGLE_PAYMENTS:
        assert count == 1
    else:
        assert 2 <= count <= bounds.max_term(plan.kind)


def check_minimum(plan: Plan, minimum: int) -> None:
    """Invariant 5: nothing below the minimum installment but a smaller last one."""
    amounts = [item.amount for item in plan.installments]
    assert all(amount >= minimum for amount in amounts[:-1]), (minimum, amounts)
    if amounts[-1] < minimum and len(amounts) > 1:
        assert amounts[-1] <= min(amounts[:-1])


def check_waivers(
    plan: Plan,
    snapshot: LoanSnapshot,
    penalty_pct: Decimal,
    fee_pct: Decimal,
    discount_pct: Decimal,
    *,
    deferral_waives_nothing: bool = True,
) -> None:
    """Invariant 7: waivers within the caps; a discount only on a settlement; a deferral
    the borrower chooses alone waives nothing."""
    arrears = snapshot.arrears
    if plan.kind in (PlanKind.RESTRUCTURE, PlanKind.SETTLEMENT):
        assert plan.restructured == snapshot.outstanding
    else:
        assert plan.restructured == arrears.total
    waiver = plan.waiver
    assert 0 <= waiver.penalties <= floor_percent(arrears.penalties, penalty_pct)
    assert 0 <= waiver.fees <= floor_percent(arrears.fees, fee_pct)
    if plan.kind is PlanKind.SETTLEMENT:
        payable = plan.restructured - waiver.penalties - waiver.fees
        assert 0 <= waiver.discount <= floor_percent(payable, discount_pct)
    else:
        assert waiver.discount == 0
    if deferral_waives_nothing and plan.kind is PlanKind.DEFERRAL:
        assert waiver.total == 0


def check_stage_plan(plan: Plan, case: Case) -> None:
    """Invariants 1 to 5 and 7 against the stage's self-service rules."""
    rules = rules_of(case)
    check_arithmetic(plan)
    check_positive(plan)
    check_due_dates(
        plan, case.today, rules.max_days_to_first_payment, case.policy.max_deferral_days
    )
    check_count(plan, rules.bounds)
    check_minimum(plan, rules.minimum_installment[case.snapshot.currency])
    check_waivers(
        plan,
        case.snapshot,
        rules.max_penalty_waiver_pct,
        rules.max_fee_waiver_pct,
        rules.settlement_discount_cap_pct,
    )


def fits(plan: Plan, snapshot: LoanSnapshot, statement: Statement, policy: Policy) -> bool:
    """Whether every payment of ``plan`` fits ``statement``, recomputed from scratch."""
    expenses = (
        statement.housing
        + statement.utilities
        + statement.food
        + statement.transport
        + statement.other_debt_payments
        + statement.other
    )
    disposable = statement.net_monthly_income - expenses
    monthly = floor_percent(max(disposable, 0), policy.affordability_ratio_pct)
    amounts = [item.amount for item in plan.installments]
    if len(amounts) == 1:
        return amounts[0] <= monthly
    periods = plan.frequency.periods_per_year
    per_period = monthly * 12 // periods
    regular = 0
    if plan.kind is PlanKind.ARREARS_PLAN:
        yearly = snapshot.regular_installment * snapshot.frequency.periods_per_year
        regular = -(-yearly // periods)
    return all(amount + regular <= per_period for amount in amounts)


# --- Invariants 1 to 7: every proposal -----------------------------------------------------


@PROPERTY
@given(case=cases())
def test_proposal_amounts_add_up(case: Case) -> None:
    for proposal in case.proposals():
        check_arithmetic(proposal.plan)


@PROPERTY
@given(case=cases())
def test_proposal_installments_are_positive(case: Case) -> None:
    for proposal in case.proposals():
        check_positive(proposal.plan)


@PROPERTY
@given(case=cases())
def test_proposal_due_dates_increase_from_an_allowed_first_date(case: Case) -> None:
    for proposal in case.proposals():
        rules = rules_of(case)
        check_due_dates(
            proposal.plan,
            case.today,
            rules.max_days_to_first_payment,
            case.policy.max_deferral_days,
        )


@PROPERTY
@given(case=cases())
def test_proposal_installment_count_within_the_stage_term(case: Case) -> None:
    for proposal in case.proposals():
        check_count(proposal.plan, rules_of(case).bounds)


@PROPERTY
@given(case=cases())
def test_proposal_installments_keep_the_minimum(case: Case) -> None:
    for proposal in case.proposals():
        minimum = rules_of(case).minimum_installment[case.snapshot.currency]
        check_minimum(proposal.plan, minimum)


@PROPERTY
@given(case=cases())
def test_proposal_affordable_flag_matches_the_statement(case: Case) -> None:
    for proposal in case.proposals():
        if case.statement is None:
            assert proposal.affordable is None
            continue
        assert proposal.affordable is not None
        fitting = fits(proposal.plan, case.snapshot, case.statement, case.policy)
        assert proposal.affordable == fitting


@PROPERTY
@given(case=cases())
def test_proposal_waivers_within_the_stage_caps(case: Case) -> None:
    for proposal in case.proposals():
        rules = rules_of(case)
        check_waivers(
            proposal.plan,
            case.snapshot,
            rules.max_penalty_waiver_pct,
            rules.max_fee_waiver_pct,
            rules.settlement_discount_cap_pct,
        )


# --- Invariant 8: stage boundaries ---------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "stage"),
    [
        (0, Stage.CURRENT),
        (1, Stage.EARLY),
        (2, Stage.EARLY),
        (29, Stage.EARLY),
        (30, Stage.EARLY),
        (31, Stage.MID),
        (32, Stage.MID),
        (89, Stage.MID),
        (90, Stage.MID),
        (91, Stage.LATE),
        (92, Stage.LATE),
        (400, Stage.LATE),
    ],
)
def test_default_stage_boundaries(days: int, stage: Stage) -> None:
    assert load_policy().stage_for(days) is stage


@CHEAP
@given(
    early=st.integers(1, 400),
    widths=st.tuples(st.integers(1, 400), st.integers(1, 400)),
    offset=st.integers(-2, 2),
    anywhere=st.integers(0, 2_000),
)
def test_stage_boundaries_follow_the_thresholds(
    early: int, widths: tuple[int, int], offset: int, anywhere: int
) -> None:
    mid, late = early + widths[0], early + widths[0] + widths[1]
    policy = policy_from(
        {"stages": {"early_from_days": early, "mid_from_days": mid, "late_from_days": late}}
    )

    def expected(days: int) -> Stage:
        if days >= late:
            return Stage.LATE
        if days >= mid:
            return Stage.MID
        return Stage.EARLY if days >= early else Stage.CURRENT

    for threshold in (0, early, mid, late, anywhere):
        days = max(threshold + offset, 0)
        assert policy.stage_for(days) is expected(days)
    assert policy.stage_for(early - 1) is Stage.CURRENT
    assert policy.stage_for(early) is Stage.EARLY
    assert policy.stage_for(mid - 1) is Stage.EARLY
    assert policy.stage_for(mid) is Stage.MID
    assert policy.stage_for(late - 1) is Stage.MID
    assert policy.stage_for(late) is Stage.LATE
    for stage in (Stage.EARLY, Stage.MID, Stage.LATE):
        assert policy.stage_for(policy.stage_starts(stage)) is stage


# --- Invariant 9: borrowers' own requests --------------------------------------------------

# The request field each reason's ``nearest`` value stands for. The first three are the
# ones the borrower's form offers to fix; the others are held to the same promise.
NEAREST_FIELD = {
    RejectionReason.TERM_TOO_LONG: "installments",
    RejectionReason.FIRST_PAYMENT_TOO_LATE: "first_due_date",
    RejectionReason.DOWN_PAYMENT_TOO_LOW: "down_payment",
    RejectionReason.TERM_TOO_SHORT: "installments",
    RejectionReason.FIRST_PAYMENT_IN_PAST: "first_due_date",
    RejectionReason.DOWN_PAYMENT_TOO_HIGH: "down_payment",
    RejectionReason.INSTALLMENT_BELOW_MINIMUM: "installments",
    RejectionReason.NOT_AFFORDABLE: "installments",
}


FIRST_DATE_OFFSETS = st.one_of(st.integers(0, 14), st.integers(-3, 60))
INSTALLMENT_COUNTS = st.one_of(st.integers(2, 12), st.integers(-1, 90))
DOWN_PAYMENTS = st.one_of(st.none(), st.none(), st.integers(0, 200_000), st.integers(0, 10**12))


@st.composite
def requests(draw: st.DrawFn, case: Case) -> PlanRequest:
    """A plan a borrower might ask for: half the time shaped by the stage's rules (so
    that many are accepted), otherwise anything at all."""
    rules = case.rules
    if rules is None or draw(st.booleans()):
        kind = draw(st.sampled_from(PlanKind))
        frequency = draw(st.sampled_from(Frequency))
        installments = draw(INSTALLMENT_COUNTS)
    else:
        kind = draw(st.sampled_from(sorted(rules.plan_kinds | {PlanKind.PAY_IN_FULL})))
        frequency = draw(st.sampled_from(rules.frequencies))
        installments = draw(st.integers(2, max(2, rules.bounds.max_term(kind))))
    return PlanRequest(
        kind=kind,
        first_due_date=case.today + timedelta(days=draw(FIRST_DATE_OFFSETS)),
        installments=installments,
        frequency=frequency,
        down_payment=draw(DOWN_PAYMENTS),
    )


@st.composite
def request_cases(draw: st.DrawFn) -> tuple[Case, PlanRequest]:
    case = draw(cases())
    return case, draw(requests(case))


# Found by the property below at commit 423d903 (fixed in 99dda6b), kept as a regression
# example: arrears of USD 20.00 are under the stage's minimum installment (USD 25.00), so
# no down payment is both at least the floor and less than what is owed; the nearest
# must then be None, not USD 20.00.
SMALL_ARREARS = Case(
    overrides={},
    snapshot=LoanSnapshot(
        as_of=date(2025, 1, 1),
        currency=Currency.USD,
        arrears=Arrears(principal=2_000),
        not_yet_due_principal=0,
        regular_installment=0,
        days_past_due=5,
    ),
    today=date(2025, 1, 1),
    statement=None,
)


@PROPERTY
@given(pair=request_cases())
@example(
    pair=(
        SMALL_ARREARS,
        PlanRequest(PlanKind.ARREARS_PLAN, date(2025, 1, 1), installments=2, down_payment=0),
    )
)
def test_request_accepted_within_bounds_or_rejected_with_a_useful_nearest(
    pair: tuple[Case, PlanRequest],
) -> None:
    case, request = pair
    decision = evaluate_request(case.snapshot, case.policy, case.today, request, case.statement)
    if decision.accepted:
        assert decision.proposal is not None
        assert decision.rejections == ()
        plan = decision.proposal.plan
        assert plan is decision.plan
        check_stage_plan(plan, case)
        assert plan.kind is request.kind
        assert plan.first_due_date == request.first_due_date
        if request.kind.is_installment_plan:
            assert len(plan.installments) == request.installments
            assert plan.frequency is request.frequency
        if request.down_payment is not None and request.kind.is_installment_plan:
            assert plan.installments[0].amount == request.down_payment
        return
    assert decision.proposal is None
    assert len(decision.rejections) >= 1
    for rejection in decision.rejections:
        field = NEAREST_FIELD.get(rejection.reason)
        if field is None or rejection.nearest is None:
            continue
        changes: dict[str, Any] = {field: rejection.nearest}
        retry = replace(request, **changes)
        again = evaluate_request(case.snapshot, case.policy, case.today, retry, case.statement)
        assert rejection.reason not in {r.reason for r in again.rejections}, (
            f"{rejection.reason} persists when {field}={rejection.nearest!r} "
            f"(the nearest the engine named) is re-submitted: {again.rejections}"
        )


# --- Beyond the list: a rate the policy accepts never crashes the engine -------------------

# Found while reading ``plans._level_payment``: the policy accepts any rate from 0 to 100,
# but a positive rate so small that 1 + rate rounds to 1 in Decimal's 28 digits makes the
# annuity factor's denominator zero, and the engine raises instead of proposing.
TINY_RATE = Decimal("1E-30")
LATE_LOAN = LoanSnapshot(
    as_of=date(2025, 1, 31),
    currency=Currency.TWD,
    arrears=Arrears(principal=5_000_000, interest=300_000, fees=20_000, penalties=40_000),
    not_yet_due_principal=50_000_000,
    regular_installment=1_500_000,
    days_past_due=100,
)


def test_a_tiny_positive_plan_rate_is_proposed_not_a_crash() -> None:
    policy = load_policy({"stage": {"late": {"plan_interest_rate_pct": str(TINY_RATE)}}})
    proposals = propose(LATE_LOAN, policy, LATE_LOAN.as_of)
    assert any(proposal.plan.kind is PlanKind.RESTRUCTURE for proposal in proposals)
    for proposal in proposals:
        check_arithmetic(proposal.plan)


def test_a_tiny_positive_offer_rate_is_judged_not_a_crash() -> None:
    terms = Terms(
        PlanKind.RESTRUCTURE, LATE_LOAN.as_of, installments=12, interest_rate_pct=TINY_RATE
    )
    judgement = judge_offer(LATE_LOAN, load_policy(), LATE_LOAN.as_of, terms)
    assert judgement.plan is not None
    check_arithmetic(judgement.plan)


# --- Invariant 10: splitting and dates -----------------------------------------------------


@CHEAP
@given(
    total=st.one_of(st.integers(0, 1_000), st.integers(0, 10**13)),
    count=st.one_of(st.integers(1, 12), st.integers(1, 600)),
    step=st.sampled_from([1, 100, Currency.TWD.installment_step, Currency.CNY.installment_step]),
)
def test_split_evenly(total: int, count: int, step: int) -> None:
    parts = split_evenly(total, count, step)
    assert len(parts) == count
    assert sum(parts) == total
    assert all(part >= 0 for part in parts)
    *regular, last = parts
    assert len(set(regular)) <= 1
    assert all(part % step == 0 for part in regular)
    assert all(last >= part for part in regular)
    assert all(last - part < count * step for part in regular)
    if total >= count * step:
        assert all(part > 0 for part in parts)


@CHEAP
@given(total=st.integers(-(10**6), 10**6), count=st.integers(-5, 0))
def test_split_evenly_refuses_nonsense(total: int, count: int) -> None:
    with pytest.raises(ValueError, match="count"):
        split_evenly(abs(total), count)
    with pytest.raises(ValueError, match="total"):
        split_evenly(-abs(total) - 1, 1)


DATES = st.dates(date(1900, 1, 1), date(2400, 12, 31))


@CHEAP
@given(
    start=DATES,
    months=st.integers(-1_200, 1_200),
    anchor=st.one_of(st.none(), st.integers(1, 31)),
)
def test_add_months_moves_whole_months_and_clamps_to_month_end(
    start: date, months: int, anchor: int | None
) -> None:
    moved = add_months(start, months, anchor)
    assert (moved.year * 12 + moved.month) - (start.year * 12 + start.month) == months
    day = start.day if anchor is None else anchor
    assert moved.day == min(day, calendar.monthrange(moved.year, moved.month)[1])
    # Moving back with the original day as anchor returns to the start.
    assert add_months(moved, -months, start.day) == start
    assert add_months(start, 0) == start


@CHEAP
@given(year=st.integers(1901, 2399), anchor=st.integers(28, 31))
def test_month_end_schedule_keeps_its_anchor(year: int, anchor: int) -> None:
    first = date(year, 1, anchor)
    dates = due_dates(first, 3, Frequency.MONTHLY)
    february = 29 if calendar.isleap(year) else 28
    assert dates == [first, date(year, 2, min(anchor, february)), date(year, 3, anchor)]
    if anchor == 31:
        assert dates == [date(year, 1, 31), date(year, 2, february), date(year, 3, 31)]


@CHEAP
@given(first=DATES, count=st.integers(0, 120), frequency=st.sampled_from(Frequency))
def test_due_dates(first: date, count: int, frequency: Frequency) -> None:
    dates = due_dates(first, count, frequency)
    assert len(dates) == count
    if count:
        assert dates[0] == first
    assert all(earlier < later for earlier, later in pairwise(dates))
    if frequency is Frequency.MONTHLY:
        for k, due in enumerate(dates):
            assert due == add_months(first, k, first.day)
            last_day = calendar.monthrange(due.year, due.month)[1]
            assert due.day == min(first.day, last_day)
    else:
        gap = 14 if frequency is Frequency.BIWEEKLY else 7
        assert all((later - earlier).days == gap for earlier, later in pairwise(dates))


# --- Invariant 11: agents' offers ----------------------------------------------------------

OFFER_PERCENTS = st.one_of(
    st.sampled_from([Decimal(0), Decimal(25), Decimal(50), Decimal(100)]),
    st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False),
)


@st.composite
def offer_cases(draw: st.DrawFn) -> tuple[Case, Terms]:
    case = draw(cases())
    terms = Terms(
        kind=draw(st.sampled_from(PlanKind)),
        first_due_date=case.today + timedelta(days=draw(FIRST_DATE_OFFSETS)),
        installments=draw(INSTALLMENT_COUNTS),
        frequency=draw(st.sampled_from(Frequency)),
        down_payment=draw(DOWN_PAYMENTS),
        penalty_waiver_pct=draw(OFFER_PERCENTS),
        fee_waiver_pct=draw(OFFER_PERCENTS),
        settlement_discount_pct=draw(OFFER_PERCENTS),
        interest_rate_pct=draw(
            st.decimals(min_value=0, max_value=40, places=2, allow_nan=False, allow_infinity=False)
        ),
    )
    return case, terms


@PROPERTY
@given(pair=offer_cases())
def test_offer_within_authority_has_no_reasons_and_keeps_the_agents_bounds(
    pair: tuple[Case, Terms],
) -> None:
    case, terms = pair
    judgement = judge_offer(case.snapshot, case.policy, case.today, terms, case.statement)
    if judgement.authority is not Authority.WITHIN_AUTHORITY:
        assert judgement.reasons, "an offer needing approval or refused must say why"
        return
    assert judgement.reasons == ()
    plan = judgement.plan
    assert plan is not None
    rules = rules_of(case)
    agent = case.policy.agent.widened_by(rules.bounds)
    check_arithmetic(plan)
    check_positive(plan)
    check_due_dates(
        plan, case.today, agent.max_days_to_first_payment, case.policy.max_deferral_days
    )
    check_count(plan, agent)
    check_minimum(plan, rules.minimum_installment[case.snapshot.currency])
    check_waivers(
        plan,
        case.snapshot,
        agent.max_penalty_waiver_pct,
        agent.max_fee_waiver_pct,
        agent.settlement_discount_cap_pct,
        # An agent may waive on a promise to pay; only self-service deferrals waive nothing.
        deferral_waives_nothing=False,
    )
    assert (judgement.affordable is None) == (case.statement is None)


@PROPERTY
@given(pair=request_cases())
def test_offer_of_what_a_borrower_may_choose_alone_is_within_authority(
    pair: tuple[Case, PlanRequest],
) -> None:
    case, request = pair
    decision = evaluate_request(case.snapshot, case.policy, case.today, request, case.statement)
    if not decision.accepted:
        return
    rules = rules_of(case)
    deferral = request.kind is PlanKind.DEFERRAL
    # The terms the borrower got: the stage's full waivers, discount and rate; a deferral
    # waives nothing.
    terms = Terms(
        kind=request.kind,
        first_due_date=request.first_due_date,
        installments=request.installments,
        frequency=request.frequency,
        down_payment=request.down_payment,
        penalty_waiver_pct=Decimal(0) if deferral else rules.max_penalty_waiver_pct,
        fee_waiver_pct=Decimal(0) if deferral else rules.max_fee_waiver_pct,
        settlement_discount_pct=rules.settlement_discount_cap_pct,
        interest_rate_pct=rules.plan_interest_rate_pct,
    )
    judgement = judge_offer(case.snapshot, case.policy, case.today, terms, case.statement)
    assert judgement.authority is Authority.WITHIN_AUTHORITY, judgement.reasons
    assert judgement.reasons == ()


# --- Invariant 12: the timeline if nothing changes -----------------------------------------


@CHEAP
@given(snapshot=snapshots(), overrides=OVERRIDES)
def test_timeline_is_chronological_and_respects_holds(
    snapshot: LoanSnapshot, overrides: dict[str, Any]
) -> None:
    events = timeline(snapshot, policy_from(overrides))
    if snapshot.days_past_due == 0:
        assert events == ()
        return
    dates = [event.date for event in events]
    assert dates == sorted(dates)
    holds = [event for event in events if event.kind is EventKind.ON_HOLD]
    assert len(holds) == (1 if snapshot.on_hold else 0)
    for event in events:
        if event.kind is EventKind.ON_HOLD:
            assert event.date == snapshot.as_of
            continue
        assert event.past == (event.date <= snapshot.as_of), event
        if snapshot.on_hold:
            assert event.past, f"{event.kind} in the future while the case is on hold"


# --- Beyond the list: what README.md's table of plan kinds promises ------------------------

# A mid-stage loan under the default policy: its arrears plans are on offer.
MID_LOAN = Case(
    overrides={},
    snapshot=LoanSnapshot(
        as_of=date(2025, 3, 1),
        currency=Currency.TWD,
        arrears=Arrears(principal=1_500_000, interest=120_000, fees=30_000, penalties=45_000),
        not_yet_due_principal=9_000_000,
        regular_installment=550_000,
        days_past_due=47,
    ),
    today=date(2025, 3, 1),
    statement=None,
)


@PROPERTY
@given(case=cases())
@example(case=MID_LOAN)
def test_only_a_restructure_states_an_interest_rate(case: Case) -> None:
    # README: an arrears plan has "no interest of its own" and the stage's plan rate is for
    # "restructures only"; a plan that charges nothing must not state a rate.
    for proposal in case.proposals():
        plan = proposal.plan
        if plan.kind is not PlanKind.RESTRUCTURE:
            assert plan.interest == 0
            assert plan.interest_rate_pct == 0, (
                f"{plan.kind} states {plan.interest_rate_pct} % but charges no interest"
            )


# An early-stage loan with fees, and an agent's promise to pay that waives a quarter of them.
EARLY_LOAN_WITH_FEES = Case(
    overrides={},
    snapshot=LoanSnapshot(
        as_of=date(2025, 3, 1),
        currency=Currency.TWD,
        arrears=Arrears(principal=500_000, fees=40_000),
        not_yet_due_principal=0,
        regular_installment=0,
        days_past_due=5,
    ),
    today=date(2025, 3, 1),
    statement=None,
)


@PROPERTY
@given(pair=offer_cases())
@example(
    pair=(
        EARLY_LOAN_WITH_FEES,
        Terms(PlanKind.DEFERRAL, date(2025, 3, 1), fee_waiver_pct=Decimal(25)),
    )
)
def test_an_offered_deferral_waives_nothing(pair: tuple[Case, Terms]) -> None:
    # README: a deferral is "a promise to pay the arrears on one date ... waives nothing".
    case, terms = pair
    terms = replace(terms, kind=PlanKind.DEFERRAL)
    judgement = judge_offer(case.snapshot, case.policy, case.today, terms, case.statement)
    if judgement.authority is Authority.OUTSIDE_POLICY or judgement.plan is None:
        return
    assert judgement.plan.waiver.total == 0, (
        f"a deferral judged {judgement.authority} waives {judgement.plan.waiver}"
    )
